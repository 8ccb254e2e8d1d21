// Command goplugin is a plain go-plugin kv plugin (examples/grpc's KV
// service, kept in memory) for the interop tests. Getting a key that starts
// with "log" makes it log through hclog at every level and write raw lines,
// so a host's log mapping can be checked:
//
//   - hclog JSON on its real stderr: "<level> <key>" at trace…error
//   - "[WARN] prefixed <key>" and "plain <key>" as raw lines on its real stderr
//   - "stdout <key>" and "stderr <key>" on os.Stdout/os.Stderr, which
//     go-plugin forwards to the host over GRPCStdio
//
// Faults for the host's tests: Get("pid") returns its process id, Get("panic")
// panics in the handler (a Go panic kills the process, its text on stderr),
// Get("sleep:<ms>") answers after <ms>. -exit-early exits 3 before the
// handshake; -no-handshake never serves (and never prints a handshake).
//
// Flags choose the handshake: -versions 2,3 serves those protocol versions.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/examples/grpc/shared"

	"github.com/podplug/podplug/test/go/internal/peer"
)

type kv struct {
	log    hclog.Logger
	stderr *os.File // the real stderr, before Serve redirects os.Stderr
	m      sync.Map
}

func (s *kv) Put(key string, value []byte) error {
	s.m.Store(key, value)
	return nil
}

func (s *kv) Get(key string) ([]byte, error) {
	switch {
	case key == "pid":
		return []byte(strconv.Itoa(os.Getpid())), nil
	case strings.HasPrefix(key, "env:"):
		// What the plugin's environment holds (SkipHostEnv tests); "<unset>" when nothing.
		if v, ok := os.LookupEnv(key[4:]); ok {
			return []byte(v), nil
		}
		return []byte("<unset>"), nil
	case key == "panic":
		panic("goplugin: panic on purpose in Get")
	case strings.HasPrefix(key, "sleep:"):
		ms, _ := strconv.Atoi(key[6:])
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return []byte("slept"), nil
	}
	if len(key) >= 3 && key[:3] == "log" {
		s.log.Trace("trace "+key, "key", key)
		s.log.Debug("debug "+key, "key", key)
		s.log.Info("info "+key, "key", key)
		s.log.Warn("warn "+key, "key", key)
		s.log.Error("error "+key, "key", key)
		fmt.Fprintf(s.stderr, "[WARN] prefixed %s\nplain %s\n", key, key)
		fmt.Fprintf(os.Stdout, "stdout %s\n", key)
		fmt.Fprintf(os.Stderr, "stderr %s\n", key)
		return []byte("logged"), nil
	}
	v, ok := s.m.Load(key)
	if !ok {
		return nil, fmt.Errorf("no key %q", key)
	}
	return v.([]byte), nil
}

func main() {
	versions := flag.String("versions", "1", "protocol versions served, comma separated")
	cookie := flag.String("cookie", "BASIC_PLUGIN=hello", "magic cookie KEY=VALUE")
	exitEarly := flag.Bool("exit-early", false, "exit 3 before the handshake")
	noHandshake := flag.Bool("no-handshake", false, "never serve, never print a handshake")
	debug := flag.Bool("debug", false, "serve in go-plugin's test mode, as Terraform's provider debug mode: print TF_REATTACH_PROVIDERS={\"kv\":<ReattachConfig>} and serve until SIGTERM")
	flag.Parse()
	if *exitEarly {
		fmt.Fprintln(os.Stderr, "goplugin: exiting before the handshake, as asked")
		os.Exit(3)
	}
	if *noHandshake {
		fmt.Fprintln(os.Stderr, "goplugin: never printing a handshake, as asked")
		select {}
	}

	logger := hclog.New(&hclog.LoggerOptions{
		Name: "goplugin", Level: hclog.Trace, Output: os.Stderr, JSONFormat: true,
	})
	impl := &kv{log: logger, stderr: os.Stderr}
	hs, vs, err := peer.Handshake(*cookie, *versions, plugin.PluginSet{"kv": &shared.KVGRPCPlugin{Impl: impl}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cfg := &plugin.ServeConfig{
		HandshakeConfig:  hs,
		VersionedPlugins: vs,
		Logger:           logger,
		GRPCServer:       plugin.DefaultGRPCServer,
	}
	if *debug {
		cfg.Test = debugMode()
	}
	plugin.Serve(cfg)
}

// debugMode is Terraform's provider debug mode: go-plugin's test mode hands
// the reattach config to the plugin, which prints it in TF_REATTACH_PROVIDERS's
// JSON shape; SIGTERM or SIGINT ends serving.
func debugMode() *plugin.ServeTestConfig {
	ch := make(chan *plugin.ReattachConfig, 1)
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		cancel()
	}()
	out := os.Stdout
	go func() {
		rc := <-ch
		b, _ := json.Marshal(map[string]any{"kv": map[string]any{
			"Protocol": rc.Protocol, "ProtocolVersion": rc.ProtocolVersion, "Pid": rc.Pid, "Test": rc.Test,
			"Addr": map[string]string{"Network": rc.Addr.Network(), "String": rc.Addr.String()},
		}})
		fmt.Fprintf(out, "TF_REATTACH_PROVIDERS=%s\n", b)
	}()
	return &plugin.ServeTestConfig{Context: ctx, ReattachConfigCh: ch}
}
