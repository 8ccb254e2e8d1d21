package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/podplug/podplug/sdk/launcher/internal/handshake"
)

// killGrace is how long a plugin that sent a bad handshake gets between SIGTERM and SIGKILL.
const killGrace = 2 * time.Second

// run starts the plugin, announces its handshake line through the handshake
// file, passes its output through, forwards signals and exits as it does.
func run(argv []string) int {
	running = true
	file := os.Getenv(envHandshakeFile)
	if file == "" {
		fail("NO_HANDSHAKE_FILE", envHandshakeFile+" is not set: the launcher runs plugins in podplug sidecar mode, with the injected environment")
		return 2
	}
	// What the reload file said when this plugin started: only a later change reloads it.
	reloadBase := readReload(os.Getenv(envReloadFile))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = os.Stdin
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fail("START_FAILED", err.Error())
		return 1
	}
	// Handlers before the child exists: a signal to a PID 1 without one is dropped.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	if err := cmd.Start(); err != nil {
		fail("START_FAILED", fmt.Sprintf("cannot start %q: %v (does the Plugin's command exist in its image?)", argv[0], err))
		return 127
	}
	var announcedFlag atomic.Bool
	go func() {
		for s := range sigs {
			// The kubelet's SIGTERM after a failed liveness probe: a hung plugin will not act on it,
			// and the kubelet would wait out the grace (at least 2 s) before its SIGKILL. Kill it now.
			if s == syscall.SIGTERM && announcedFlag.Load() && hung(cmd.Process.Pid) {
				fmt.Fprintf(os.Stderr, "podplug-launcher: the plugin (pid %d) does not answer a health check within %s: it is hung and would ignore SIGTERM, so it is killed now [LAUNCHER_HUNG_KILLED]\n", cmd.Process.Pid, hungCheck)
				_ = cmd.Process.Kill()
				continue
			}
			_ = cmd.Process.Signal(s)
		}
	}()

	r := bufio.NewReaderSize(out, handshake.MaxLineBytes)
	announced := ""
	copied := make(chan struct{})
	line, readErr := r.ReadSlice('\n')
	switch {
	case errors.Is(readErr, bufio.ErrBufferFull):
		os.Stdout.Write(line)
		fail("BAD_HANDSHAKE", fmt.Sprintf("the plugin's first stdout line is longer than %d bytes: not a go-plugin handshake; stopping it", handshake.MaxLineBytes))
		return stopBad(cmd, out)
	case readErr != nil:
		// No whole line: the plugin exited (or closed stdout) before announcing itself.
		os.Stdout.Write(line)
		status := wait(cmd)
		fail("NO_HANDSHAKE", fmt.Sprintf("the plugin closed its stdout before writing a handshake line (exit status %d)", status))
		if status == 0 {
			return 1
		}
		return status
	}
	os.Stdout.Write(line)
	text := string(bytes.TrimRight(line, "\r\n"))
	h, err := handshake.Parse(text)
	if err != nil {
		fail("BAD_HANDSHAKE", "the plugin's first stdout line: "+err.Error()+"; stopping it")
		return stopBad(cmd, out)
	}
	allowed, err := allowedVersions(os.Getenv(envProtocolVersions))
	if err != nil {
		fail("BAD_CONFIG", err.Error()+"; stopping the plugin")
		return stopBad(cmd, out)
	}
	if len(allowed) > 0 && !slices.Contains(allowed, h.App) {
		fail("PROTOCOL_VERSION", versionMismatch(h.App, allowed))
		return stopBad(cmd, out)
	}
	if err := writeAtomic(file, text+"\n"); err != nil {
		fail("HANDSHAKE_WRITE", fmt.Sprintf("cannot write %s: %v; stopping the plugin", file, err))
		return stopBad(cmd, out)
	}
	announced = text
	announcedFlag.Store(true)
	var reloading atomic.Bool
	go watchReload(reloadBase, copied, func(token string) {
		reloading.Store(true)
		stopForReload(cmd, token)
	})
	go func() {
		_, _ = io.Copy(os.Stdout, r)
		close(copied)
	}()
	<-copied // stdout closes when the plugin exits
	status := wait(cmd)
	removeIfOurs(file, announced)
	if reloading.Load() {
		// Asked for: Completed, not Error, in the container's last state.
		return 0
	}
	return status
}

// hungCheck bounds the health check the launcher makes on SIGTERM.
const hungCheck = 500 * time.Millisecond

// hung reports whether the plugin cannot act on a signal: stopped (SIGSTOP, a
// frozen cgroup) by /proc, or not answering a health check within hungCheck
// (podplug-probe exits 3). A plugin that answers, even NOT_SERVING, or whose
// check cannot run, gets its SIGTERM and its graceful stop.
func hung(pid int) bool {
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && (stat[i+2] == 'T' || stat[i+2] == 't') {
			return true
		}
	}
	self, err := os.Executable()
	if err != nil {
		return false
	}
	check := exec.Command(filepath.Join(filepath.Dir(self), probeBinary), "-timeout", hungCheck.String())
	err = check.Run()
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == 3
}

// stopBad ends a plugin whose handshake cannot be announced: SIGTERM, SIGKILL after killGrace.
func stopBad(cmd *exec.Cmd, out io.Reader) int {
	go func() { _, _ = io.Copy(io.Discard, out) }()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	t := time.AfterFunc(killGrace, func() { _ = cmd.Process.Kill() })
	defer t.Stop()
	wait(cmd)
	return 1
}

// wait reaps the plugin and returns its status as a shell would (128+N when killed by signal N).
func wait(cmd *exec.Cmd) int {
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return 1
	}
	return 0
}

// writeAtomic writes data to path by write-then-rename: a reader sees the old file or the new one.
func writeAtomic(path, data string) error {
	tmp := filepath.Join(filepath.Dir(path), fmt.Sprintf(".%s.%d.tmp", filepath.Base(path), os.Getpid()))
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// removeIfOurs removes the handshake file if it still holds our line (a newer plugin may have replaced it).
func removeIfOurs(path, line string) {
	if b, err := os.ReadFile(path); err == nil && string(bytes.TrimRight(b, "\n")) == line {
		_ = os.Remove(path)
	}
}
