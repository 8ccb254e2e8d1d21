package main

import (
	"os"
	"strings"
)

// The termination message contract shared with the TypeScript serve() and
// read by the operator (docs/errors.md): the first line of the file is
// `<CODE>: <sentence>`, at most 4096 bytes (the kubelet's own limit).
const (
	envTerminationLog     = "PODPLUG_TERMINATION_LOG"
	defaultTerminationLog = "/dev/termination-log"
	maxTerminationBytes   = 4096
)

// running is true while `run` supervises a plugin: only then is a fatal error the container's termination message
// (a probe runs in the same container and must never overwrite it).
var running bool

// writeTerminationMessage writes `CODE: msg` to $PODPLUG_TERMINATION_LOG, or /dev/termination-log when the
// kubelet mounted one. Best effort: the same line is already on stderr, which FallbackToLogsOnError also shows.
func writeTerminationMessage(code, msg string) {
	path := os.Getenv(envTerminationLog)
	if path == "" {
		if _, err := os.Stat(defaultTerminationLog); err != nil {
			return
		}
		path = defaultTerminationLog
	}
	line := code + ": " + strings.ReplaceAll(msg, "\n", " ")
	if len(line) > maxTerminationBytes-1 {
		line = strings.ToValidUTF8(line[:maxTerminationBytes-4], "") + "..."
	}
	_ = os.WriteFile(path, []byte(line+"\n"), 0o644)
}
