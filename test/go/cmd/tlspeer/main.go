// Command tlspeer is go-plugin with an explicit TLS configuration, both
// sides, for the interop tests (test/interop/tls.test.ts):
//
//	tlspeer host -cmd 'node plugin.ts' put K V get K    a host with ClientConfig.TLSConfig
//	tlspeer plugin                                      a kv plugin (in memory) with ServeConfig.TLSProvider
//
// Both read PEM text from the environment: the host TLSHOST_CERT, TLSHOST_KEY
// (its client certificate) and TLSHOST_CA (the plugin's CA; server name
// localhost); the plugin FIXTURE_TLS_CERT, FIXTURE_TLS_KEY and FIXTURE_TLS_CA
// (the host's CA, required of every client), the names
// test/interop/fixtures/log-plugin.ts reads for podplug's serve({ tls }).
// The host prints one JSON line per result on stdout (internal/peer); -marker
// is ignored, so a test can find the process by its command line.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/examples/grpc/shared"

	"github.com/podplug/podplug/test/go/internal/peer"
)

func main() {
	if len(os.Args) < 2 {
		peer.Fail("flags", fmt.Errorf("usage: tlspeer host|plugin [flags]"))
	}
	switch os.Args[1] {
	case "host":
		os.Exit(host(os.Args[2:]))
	case "plugin":
		servePlugin(os.Args[2:])
	default:
		peer.Fail("flags", fmt.Errorf("unknown mode %q: give host or plugin", os.Args[1]))
	}
}

// tlsConfig is a mutual TLS configuration from PEM text in three variables;
// ca verifies the peer (the server for a client, every client for a server).
func tlsConfig(certVar, keyVar, caVar string, server bool) (*tls.Config, error) {
	pair, err := tls.X509KeyPair([]byte(os.Getenv(certVar)), []byte(os.Getenv(keyVar)))
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", certVar, keyVar, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(os.Getenv(caVar))) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caVar)
	}
	c := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if server {
		c.ClientCAs = pool
		c.ClientAuth = tls.RequireAndVerifyClientCert
	} else {
		c.RootCAs = pool
		c.ServerName = "localhost"
	}
	return c, nil
}

func host(args []string) int {
	fs := flag.NewFlagSet("host", flag.ExitOnError)
	cmdLine := fs.String("cmd", "", "plugin command, run with sh -c 'exec <cmd>'")
	startTimeout := fs.Duration("start-timeout", 10*time.Second, "ClientConfig.StartTimeout")
	_ = fs.Parse(args)
	cfg, err := tlsConfig("TLSHOST_CERT", "TLSHOST_KEY", "TLSHOST_CA", false)
	if err != nil {
		peer.Fail("tls", err)
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  plugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: "BASIC_PLUGIN", MagicCookieValue: "hello"},
		Plugins:          plugin.PluginSet{"kv": &shared.KVGRPCPlugin{}},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Cmd:              exec.Command("sh", "-c", "exec "+*cmdLine),
		TLSConfig:        cfg,
		StartTimeout:     *startTimeout,
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Debug, Output: os.Stderr, JSONFormat: true}),
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		peer.Emit("error", map[string]any{"op": "start", "error": err.Error()})
		return 1
	}
	addr, _ := client.Start()
	peer.Emit("started", map[string]any{"version": client.NegotiatedVersion(), "addr": addr.String()})
	if err := rpc.Ping(); err != nil {
		peer.Emit("error", map[string]any{"op": "ping", "error": err.Error()})
		return 1
	}
	raw, err := rpc.Dispense("kv")
	if err != nil {
		peer.Emit("error", map[string]any{"op": "dispense", "error": err.Error()})
		return 1
	}
	kv := raw.(shared.KV)
	ops := fs.Args()
	for len(ops) > 0 {
		switch {
		case ops[0] == "put" && len(ops) >= 3:
			if err := kv.Put(ops[1], []byte(ops[2])); err != nil {
				peer.Emit("error", map[string]any{"op": "put", "error": err.Error()})
				return 1
			}
			peer.Emit("put", map[string]any{"key": ops[1]})
			ops = ops[3:]
		case ops[0] == "get" && len(ops) >= 2:
			v, err := kv.Get(ops[1])
			if err != nil {
				peer.Emit("error", map[string]any{"op": "get", "error": err.Error()})
				return 1
			}
			peer.Emit("get", map[string]any{"key": ops[1], "value": string(v)})
			ops = ops[2:]
		default:
			peer.Emit("error", map[string]any{"op": ops[0], "error": "unknown operation or missing arguments"})
			return 1
		}
	}
	return 0
}

// memKV is a kv kept in memory.
type memKV struct{ m sync.Map }

func (s *memKV) Put(key string, value []byte) error {
	s.m.Store(key, value)
	return nil
}

func (s *memKV) Get(key string) ([]byte, error) {
	v, ok := s.m.Load(key)
	if !ok {
		return nil, fmt.Errorf("no key %q", key)
	}
	return v.([]byte), nil
}

func servePlugin(args []string) {
	fs := flag.NewFlagSet("plugin", flag.ExitOnError)
	_ = fs.String("marker", "", "ignored: lets a test find this process")
	_ = fs.Parse(args)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: "BASIC_PLUGIN", MagicCookieValue: "hello"},
		Plugins:         plugin.PluginSet{"kv": &shared.KVGRPCPlugin{Impl: &memKV{}}},
		GRPCServer:      plugin.DefaultGRPCServer,
		// go-plugin calls it before serving; an error ends the plugin before its handshake.
		TLSProvider: func() (*tls.Config, error) {
			return tlsConfig("FIXTURE_TLS_CERT", "FIXTURE_TLS_KEY", "FIXTURE_TLS_CA", true)
		},
		Logger: hclog.New(&hclog.LoggerOptions{Name: "tlspeer", Level: hclog.Debug, Output: os.Stderr, JSONFormat: true}),
	})
}
