package main

// `podplug-launcher ready PLUGIN...`: the host container's readiness probe.
// The host SDK writes <PODPLUG_SOCKET_ROOT>/<plugin>/host-state.json whenever
// its connection to the plugin changes (src/host/host-state.ts); the pod is
// Ready only while every named plugin's file says "ready". A failing host's
// reason goes to stderr, which the kubelet puts in the probe's Event.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

const (
	envSocketRoot     = "PODPLUG_SOCKET_ROOT"
	defaultSocketRoot = "/var/run/podplug"
	hostStateFile     = "host-state.json"
	// The file is a few hundred bytes; anything larger is not the host SDK's.
	maxHostStateBytes = 64 << 10
)

// access(2) mode: may create files in, and enter, a folder.
const accessWX = 0x2 | 0x1

// refused says the host container may not use the plugin's folder, with the ids and modes involved.
func refused(dir string) string {
	who := fmt.Sprintf("this container runs as uid %d gid %d groups %v", os.Getuid(), os.Getgid(), groups())
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Sprintf("the host cannot use %s (SOCKET_PERMISSION): %v; %s. Run host and plugins with a shared fsGroup in the pod's securityContext", dir, err, who)
	}
	owner := ""
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		owner = fmt.Sprintf("uid %d gid %d ", st.Uid, st.Gid)
	}
	return fmt.Sprintf("the host cannot enter and write %s (SOCKET_PERMISSION): it is %smode %04o; %s. Run host and plugins with a shared fsGroup in the pod's securityContext", dir, owner, fi.Mode().Perm()|setgid(fi), who)
}

func setgid(fi fs.FileInfo) fs.FileMode {
	if fi.Mode()&fs.ModeSetgid != 0 {
		return 0o2000
	}
	return 0
}

func groups() []int {
	g, err := os.Getgroups()
	if err != nil {
		return nil
	}
	return g
}

// A plugin's name in the pod: a Kubernetes object name, never a path.
var pluginName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)

type hostState struct {
	Version   int    `json:"version"`
	Plugin    string `json:"plugin"`
	State     string `json:"state"`
	Code      string `json:"code"`
	Reason    string `json:"reason"`
	UpdatedAt string `json:"updatedAt"`
}

// ready exits 0 iff each plugin's host-state.json says ready, else 1 with one stderr line per plugin that is not.
func ready(names []string) int {
	if len(names) == 0 {
		fail("USAGE", "usage: podplug-launcher ready PLUGIN...")
		return 2
	}
	for _, n := range names {
		if !pluginName.MatchString(n) {
			fail("USAGE", fmt.Sprintf("ready: %q is not a plugin name (a Kubernetes object name)", n))
			return 2
		}
	}
	root := os.Getenv(envSocketRoot)
	if root == "" {
		root = defaultSocketRoot
	}
	status := 0
	for _, n := range names {
		if why := notReady(filepath.Join(root, n, hostStateFile), n); why != "" {
			fail("NOT_READY", fmt.Sprintf("plugin %s: %s", n, why))
			status = 1
		}
	}
	return status
}

// notReady reads one state file: "" when it says ready, else why not.
func notReady(path, name string) string {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		// A host that may not write in the folder cannot write its state either: say why it cannot connect.
		dir := filepath.Dir(path)
		if err := syscall.Access(dir, accessWX); errors.Is(err, syscall.EACCES) {
			return refused(dir)
		} else if errors.Is(err, fs.ErrNotExist) {
			return fmt.Sprintf("no folder %s: the plugin's socket folder is missing (is the pod injected, and the socket volume mounted at %s=%s?)", dir, envSocketRoot, filepath.Dir(dir))
		}
		return fmt.Sprintf("no %s: the host has not attached to it yet, or has exited (a podplug host SDK writes it when it attaches with sidecarAttach)", path)
	}
	if errors.Is(err, fs.ErrPermission) {
		return refused(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Sprintf("cannot read %s: %v", path, err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxHostStateBytes+1))
	if err != nil {
		return fmt.Sprintf("cannot read %s: %v", path, err)
	}
	if len(raw) > maxHostStateBytes {
		return fmt.Sprintf("%s is larger than %d bytes: not a host state file", path, maxHostStateBytes)
	}
	var s hostState
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Sprintf("%s is not a host state file: %v", path, err)
	}
	if s.Version != 1 {
		return fmt.Sprintf("%s has version %d; this launcher reads version 1 (update the launcher or the host SDK)", path, s.Version)
	}
	if s.Plugin != name {
		return fmt.Sprintf("%s is for plugin %q, not %q", path, s.Plugin, name)
	}
	switch s.State {
	case "ready":
		return ""
	case "connecting", "failing", "stopped":
	default:
		return fmt.Sprintf("%s has an unknown state %q", path, s.State)
	}
	why := "the host is " + s.State
	if s.Code != "" {
		why += " (" + s.Code + ")"
	}
	if s.Reason != "" {
		// One line: the kubelet's Event shows it whole.
		why += ": " + strings.Join(strings.Fields(s.Reason), " ")
	}
	if s.UpdatedAt != "" {
		why += " [since " + s.UpdatedAt + "]"
	}
	return why
}
