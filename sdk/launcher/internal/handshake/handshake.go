// Package handshake parses go-plugin handshake lines for the launcher and its probe.
package handshake

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxLineBytes bounds the handshake line: a P-521 certificate makes it about
// 1.3 KiB; anything near this is not a handshake.
const MaxLineBytes = 64 * 1024

// Handshake is a parsed line.
type Handshake struct {
	App      int
	Network  string
	Address  string
	Protocol string
	// Cert is the plugin's AutoMTLS certificate, base64 DER, or empty.
	Cert string
}

// Parse checks a go-plugin handshake line,
// CORE|APP|NETWORK|ADDR|PROTOCOL[|CERT[|MUX]], as a host would.
func Parse(line string) (Handshake, error) {
	f := strings.Split(line, "|")
	if len(f) < 5 {
		return Handshake{}, fmt.Errorf("not a go-plugin handshake line (want CORE|APP|NETWORK|ADDR|PROTOCOL, got %d field(s)): %q", len(f), clip(line))
	}
	if f[0] != "1" {
		return Handshake{}, fmt.Errorf("core protocol version %q, want 1: %q", f[0], clip(line))
	}
	app, err := strconv.Atoi(f[1])
	if err != nil || app < 0 {
		return Handshake{}, fmt.Errorf("application protocol version %q is not a number: %q", f[1], clip(line))
	}
	if f[2] != "unix" && f[2] != "tcp" {
		return Handshake{}, fmt.Errorf("network %q is neither unix nor tcp: %q", f[2], clip(line))
	}
	if f[3] == "" {
		return Handshake{}, fmt.Errorf("empty address: %q", clip(line))
	}
	if f[4] != "grpc" && f[4] != "netrpc" {
		return Handshake{}, fmt.Errorf("protocol %q is neither grpc nor netrpc: %q", f[4], clip(line))
	}
	h := Handshake{App: app, Network: f[2], Address: f[3], Protocol: f[4]}
	if len(f) > 5 {
		h.Cert = f[5]
	}
	return h, nil
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
