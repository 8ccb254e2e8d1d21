// Package peer holds what the Go test peers share: JSON-line output and
// the parsing of the flags that describe a go-plugin handshake.
package peer

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-plugin"
)

var mu sync.Mutex

// Emit prints one JSON object on a line of stdout: the peers' results.
func Emit(event string, fields map[string]any) {
	if fields == nil {
		fields = map[string]any{}
	}
	fields["event"] = event
	b, err := json.Marshal(fields)
	if err != nil {
		panic(err)
	}
	mu.Lock()
	defer mu.Unlock()
	_, _ = os.Stdout.Write(append(b, '\n'))
}

// Fail emits an error event and exits 1.
func Fail(op string, err error) {
	Emit("error", map[string]any{"op": op, "error": err.Error()})
	os.Exit(1)
}

// Handshake builds a HandshakeConfig from "KEY=VALUE" and the versioned
// plugin sets from "1,2": every version serves the same set.
func Handshake(cookie, versions string, set plugin.PluginSet) (plugin.HandshakeConfig, map[int]plugin.PluginSet, error) {
	key, value, ok := strings.Cut(cookie, "=")
	if !ok {
		return plugin.HandshakeConfig{}, nil, fmt.Errorf("cookie %q is not KEY=VALUE", cookie)
	}
	vs := map[int]plugin.PluginSet{}
	first := 0
	for _, s := range strings.Split(versions, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return plugin.HandshakeConfig{}, nil, fmt.Errorf("version %q: %w", s, err)
		}
		if first == 0 {
			first = v
		}
		vs[v] = set
	}
	return plugin.HandshakeConfig{ProtocolVersion: uint(first), MagicCookieKey: key, MagicCookieValue: value}, vs, nil
}

// StdioWriter turns what a plugin writes on its stdout or stderr (forwarded
// by GRPCStdio) into "stdio" events.
type StdioWriter string

func (w StdioWriter) Write(p []byte) (int, error) {
	Emit("stdio", map[string]any{"channel": string(w), "data": string(p)})
	return len(p), nil
}
