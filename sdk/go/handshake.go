// Package podplug lets a Go go-plugin host use a plugin that podplug runs as
// a sidecar: a plugin process the host did not start, serving on a Unix
// socket in a folder shared with the host (see docs/go-interop.md).
package podplug

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/go-plugin"
)

// Handshake is a parsed go-plugin handshake line,
// CORE|APP|NETWORK|ADDR|PROTOCOL|SERVER-CERT[|MULTIPLEX].
type Handshake struct {
	CoreVersion int
	AppVersion  int
	Network     string
	Addr        string
	Protocol    plugin.Protocol
	// ServerCert is the base64 (unpadded) DER certificate of an AutoMTLS
	// plugin, empty otherwise.
	ServerCert string
	Multiplex  bool
}

// ParseHandshake parses a handshake line the way a go-plugin host does.
func ParseHandshake(line string) (Handshake, error) {
	line = strings.TrimSpace(line)
	parts := strings.Split(line, "|")
	if len(parts) < 4 {
		return Handshake{}, fmt.Errorf("podplug: unrecognized plugin handshake %q", line)
	}
	core, err := strconv.Atoi(parts[0])
	if err != nil || core != plugin.CoreProtocolVersion {
		return Handshake{}, fmt.Errorf("podplug: handshake %q: core protocol version must be %d", line, plugin.CoreProtocolVersion)
	}
	app, err := strconv.Atoi(parts[1])
	if err != nil {
		return Handshake{}, fmt.Errorf("podplug: handshake %q: bad protocol version %q", line, parts[1])
	}
	h := Handshake{CoreVersion: core, AppVersion: app, Network: parts[2], Addr: parts[3], Protocol: plugin.ProtocolNetRPC}
	if h.Network != "unix" && h.Network != "tcp" {
		return Handshake{}, fmt.Errorf("podplug: handshake %q: unknown network %q", line, h.Network)
	}
	if len(parts) >= 5 {
		h.Protocol = plugin.Protocol(parts[4])
	}
	// Like go-plugin, shorter values are leftovers of old implementations.
	if len(parts) >= 6 && len(parts[5]) > 50 {
		h.ServerCert = parts[5]
	}
	if len(parts) >= 7 {
		h.Multiplex, _ = strconv.ParseBool(parts[6])
	}
	return h, nil
}

// String renders the handshake line (without a newline).
func (h Handshake) String() string {
	s := fmt.Sprintf("%d|%d|%s|%s|%s|%s", h.CoreVersion, h.AppVersion, h.Network, h.Addr, h.Protocol, h.ServerCert)
	if h.Multiplex {
		s += "|true"
	}
	return s
}
