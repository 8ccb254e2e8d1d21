package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// socketPrefix is how go-plugin names its sockets (os.CreateTemp(dir, "plugin")); a TS plugin's is plugin.sock.
const socketPrefix = "plugin"

// scanSockets returns the newest plugin* socket in dir that accepts a connection, as docs/architecture.md says
// a host finds a plugin without a handshake file; stale sockets of a killed plugin are skipped.
func scanSockets(ctx context.Context, dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w", dir, err)
	}
	type cand struct {
		path string
		mod  time.Time
	}
	var cands []cand
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), socketPrefix) || e.Type()&os.ModeSocket == 0 {
			continue
		}
		if info, err := e.Info(); err == nil {
			cands = append(cands, cand{filepath.Join(dir, e.Name()), info.ModTime()})
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].mod.After(cands[j].mod) })
	var d net.Dialer
	for _, c := range cands {
		conn, err := d.DialContext(ctx, "unix", c.path)
		if err == nil {
			conn.Close()
			return c.path, nil
		}
	}
	return "", fmt.Errorf("no live plugin* socket in %s (%d stale)", dir, len(cands))
}
