package main

// Cluster reloads (docs/lifecycle.md): the operator sets the Pod annotation
// podplug.io/reload-<plugin>, the kubelet projects it into $PODPLUG_RELOAD_FILE
// (a downward API volume), and the launcher, seeing that file's content change
// from what it was when the plugin started, stops the plugin and exits 0: the
// kubelet restarts only this native sidecar, never the host or the Pod.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

const envReloadFile = "PODPLUG_RELOAD_FILE"

// reloadPoll is how often the file is read: the kubelet rewrites it within a second or so of the annotation.
const reloadPoll = 500 * time.Millisecond

// reloadGrace is how long a plugin stopped for a reload gets between SIGTERM and SIGKILL.
const reloadGrace = 10 * time.Second

// readReload returns the file's content (empty when it is missing or unreadable).
func readReload(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return bytes.TrimSpace(b)
}

// watchReload calls stop once the content of $PODPLUG_RELOAD_FILE differs from
// `base` (read before the plugin started); returns at once when it is unset.
func watchReload(base []byte, done <-chan struct{}, stop func(token string)) {
	path := os.Getenv(envReloadFile)
	if path == "" {
		return
	}
	t := time.NewTicker(reloadPoll)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if now := readReload(path); len(now) > 0 && !bytes.Equal(now, base) {
				stop(string(now))
				return
			}
		}
	}
}

// stopForReload ends the plugin gracefully (a hung one at once), SIGKILL after reloadGrace.
func stopForReload(cmd *exec.Cmd, token string) {
	fmt.Fprintf(os.Stderr, "podplug-launcher: reload %q asked (Pod annotation podplug.io/reload-<plugin>): stopping the plugin (pid %d); the kubelet starts it again [LAUNCHER_RELOAD]\n", token, cmd.Process.Pid)
	if hung(cmd.Process.Pid) {
		_ = cmd.Process.Kill()
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	time.AfterFunc(reloadGrace, func() { _ = cmd.Process.Kill() })
}
