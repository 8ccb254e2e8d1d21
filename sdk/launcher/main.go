// Command podplug-launcher runs an unmodified go-plugin plugin as a sidecar
// and answers its container's exec probes (docs/launcher.md):
//
//	podplug-launcher run [--] CMD [ARGS...]  run the plugin; its first stdout line goes to $PODPLUG_HANDSHAKE_FILE,
//	                                         after its version is checked against $PLUGIN_PROTOCOL_VERSIONS
//	podplug-launcher probe [-timeout D]      one health check over the plugin's socket: exit 0 SERVING, 1 otherwise
//	                                         (runs podplug-probe from the launcher's folder: gRPC lives only there)
//	podplug-launcher ready PLUGIN...         the host container's readiness: exit 0 iff each plugin's host-state.json says ready
//	podplug-launcher copy DIR                copy podplug-launcher and podplug-probe into DIR (the init container
//	                                         that fills the shared volume)
//
// A fatal error of `run` is also the container's termination message
// (termination.go): `kubectl describe pod` and the operator read it.
//
// Static (CGO_ENABLED=0), so it runs in any image, scratch included.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// The environment the injection sets (src/constants.ts names it).
const envHandshakeFile = "PODPLUG_HANDSHAKE_FILE"

// probeBinary is the probe's file name, next to the launcher.
const probeBinary = "podplug-probe"

func main() {
	os.Exit(dispatch(os.Args[1:]))
}

func dispatch(args []string) int {
	if len(args) == 0 {
		fail("USAGE", usage)
		return 2
	}
	switch args[0] {
	case "run":
		args = args[1:]
		if len(args) > 0 && args[0] == "--" {
			args = args[1:]
		}
		if len(args) == 0 {
			fail("USAGE", "usage: podplug-launcher run [--] CMD [ARGS...]")
			return 2
		}
		return run(args)
	case "probe":
		return execProbe(args[1:])
	case "ready":
		return ready(args[1:])
	case "copy":
		if len(args) != 2 {
			fail("USAGE", "usage: podplug-launcher copy DIR")
			return 2
		}
		if err := copyBinaries(args[1]); err != nil {
			fail("COPY_FAILED", err.Error())
			return 1
		}
		return 0
	}
	fail("USAGE", fmt.Sprintf("unknown subcommand %q; %s", args[0], usage))
	return 2
}

const usage = "usage: podplug-launcher run [--] CMD [ARGS...] | probe [-timeout 800ms] | ready PLUGIN... | copy DIR"

// fail prints the launcher's one-line error, `podplug-launcher: <reason> [LAUNCHER_<CODE>]`, on stderr;
// while running a plugin it is also the container's termination message.
func fail(code, msg string) {
	fmt.Fprintf(os.Stderr, "podplug-launcher: %s [LAUNCHER_%s]\n", msg, code)
	if running {
		writeTerminationMessage("LAUNCHER_"+code, msg)
	}
}

// execProbe replaces this process with podplug-probe from the launcher's own folder.
func execProbe(args []string) int {
	self, err := os.Executable()
	if err != nil {
		fail("PROBE_FAILED", err.Error())
		return 1
	}
	bin := filepath.Join(filepath.Dir(self), probeBinary)
	err = syscall.Exec(bin, append([]string{bin}, args...), os.Environ())
	fail("PROBE_FAILED", fmt.Sprintf("cannot run %s: %v (copy both binaries: podplug-launcher copy DIR)", bin, err))
	return 1
}

// copyBinaries writes the launcher and the probe into dir, each by write-then-rename, mode 0755.
func copyBinaries(dir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, name := range []string{filepath.Base(self), probeBinary} {
		if err := copyFile(filepath.Join(filepath.Dir(self), name), filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dest string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".podplug-copy-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}

// ownPluginName is the Plugin's name from the injected environment, for messages.
func ownPluginName() string {
	if n := os.Getenv("PODPLUG_PLUGIN_NAME"); n != "" {
		return n
	}
	return "(unnamed)"
}
