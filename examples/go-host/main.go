// Command go-host is a long-running Go go-plugin host that uses a podplug
// sidecar plugin through sdk/go: it attaches to the kv plugin in its socket
// folder and, every GO_HOST_INTERVAL, puts a counter and reads it back. Each
// call's outcome is one JSON line on stdout, so `kubectl logs` (and the e2e
// tests) can follow it. When the plugin goes away (killed, restarted by the
// kubelet) it re-attaches to whatever serves in the folder next.
//
// Environment:
//
//	GO_HOST_PLUGIN      the plugin's name, default kv (folder $PODPLUG_SOCKET_ROOT/<name>)
//	GO_HOST_INTERVAL    time between calls, default 1s
//	GO_HOST_CALL_TIMEOUT how long one call may take, default 2s (go-plugin's
//	                    example KV calls carry no deadline: a hung plugin
//	                    would hold them for good)
//	KV_PROTOCOL_VERSION the version of a plugin that writes no handshake file
//	                    (an unmodified Go plugin); never guessed
//
// Its readiness: it writes the host state file beside the plugin's socket
// (podplug.HostState: connecting, ready, failing with a code), which the
// injected readiness probe of its container reads, so the pod is Ready only
// while the host can use its plugin; the file is removed when it exits.
//
// It exits 0 promptly on SIGTERM or SIGINT (it runs as PID 1 in its
// container) and leaves the sidecar running: the sidecar belongs to
// Kubernetes, so it never calls Client.Kill, which would shut the plugin down.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/examples/grpc/shared"
	podplug "github.com/podplug/podplug/sdk/go"
	"google.golang.org/grpc"
)

// handshake is the kv plugins' (examples/kv and go-plugin's examples/grpc).
var handshake = plugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: "BASIC_PLUGIN", MagicCookieValue: "hello"}

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: unixMillis}))
	cfg, err := config()
	if err != nil {
		log.Error("bad configuration", "code", "GO_HOST_CONFIG_INVALID", "error", err.Error())
		os.Exit(2)
	}
	log = log.With("plugin", cfg.name)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	state := podplug.NewHostState(cfg.dir)
	state.OnWriteError = func(err error) { log.Warn("host state", "error", err.Error()) }
	run(ctx, log, cfg, state)
	_ = state.Remove()
	log.Info("stopping", "reason", context.Cause(ctx).Error())
}

type hostConfig struct {
	name     string
	dir      string
	interval time.Duration
	timeout  time.Duration
	version  int
}

func config() (hostConfig, error) {
	c := hostConfig{name: env("GO_HOST_PLUGIN", "kv"), interval: time.Second, timeout: 2 * time.Second}
	c.dir = podplug.Dir(c.name)
	if raw := os.Getenv("GO_HOST_INTERVAL"); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("GO_HOST_INTERVAL=%q is not a positive duration (e.g. 1s, 250ms)", raw)
		}
		c.interval = d
	}
	if raw := os.Getenv("GO_HOST_CALL_TIMEOUT"); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("GO_HOST_CALL_TIMEOUT=%q is not a positive duration (e.g. 2s, 500ms)", raw)
		}
		c.timeout = d
	}
	if raw := os.Getenv("KV_PROTOCOL_VERSION"); raw != "" {
		v, err := strconv.Atoi(raw)
		if err != nil || v <= 0 {
			return c, fmt.Errorf("KV_PROTOCOL_VERSION=%q is not a protocol version (a positive integer)", raw)
		}
		c.version = v
	}
	return c, nil
}

// run attaches, calls every interval, and re-attaches after the plugin went
// away, until ctx ends.
func run(ctx context.Context, log *slog.Logger, cfg hostConfig, state *podplug.HostState) {
	var (
		client *plugin.Client
		kv     shared.KV
	)
	defer func() { detach(client) }()
	tick := time.NewTicker(cfg.interval)
	defer tick.Stop()
	state.Set(podplug.StateConnecting, "", "")
	for n := 1; ; n++ {
		if client != nil && client.Exited() {
			log.Warn("plugin went away", "dir", cfg.dir)
			state.Set(podplug.StateConnecting, "", "plugin "+cfg.name+" went away; re-attaching")
			detach(client)
			client, kv = nil, nil
		}
		if client == nil {
			var err error
			client, kv, err = attach(ctx, log, cfg, state)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				code := "ATTACH_FAILED"
				var pe *podplug.Error
				if errors.As(err, &pe) {
					code = pe.Code
				}
				state.Set(podplug.StateFailing, code, err.Error())
				log.Error("attach failed", "tick", n, "ok", false, "code", code, "error", err.Error())
			} else {
				state.Set(podplug.StateReady, "", "")
			}
		}
		if kv != nil {
			call(log, kv, n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func attach(ctx context.Context, log *slog.Logger, cfg hostConfig, state *podplug.HostState) (*plugin.Client, shared.KV, error) {
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	client, err := podplug.Attach(actx, &plugin.ClientConfig{
		HandshakeConfig:  handshake,
		Plugins:          plugin.PluginSet{"kv": &shared.KVGRPCPlugin{}},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "go-plugin", Level: hclog.Warn, Output: os.Stderr, JSONFormat: true}),
		// Every call's outcome feeds the state file's calls rule (CALLS_FAILING).
		// The state's interceptor is the outer one: it sees a call's timeout as the call's outcome.
		GRPCDialOptions: append(state.DialOptions(), callTimeout(cfg.timeout)),
	}, cfg.dir, podplug.Options{ProtocolVersion: cfg.version, PollInterval: 200 * time.Millisecond, Timeout: 10 * time.Second})
	if err != nil {
		return nil, nil, err
	}
	rpc, err := client.Client()
	if err == nil {
		var raw any
		if raw, err = rpc.Dispense("kv"); err == nil {
			addr, _ := client.Start()
			log.Info("attached", "addr", addr.String())
			return client, raw.(shared.KV), nil
		}
	}
	detach(client)
	return nil, nil, err
}

// callTimeout gives every call without a deadline one of d.
func callTimeout(d time.Duration) grpc.DialOption {
	return grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	})
}

// call puts the tick and reads it back: one line per call, ok or not.
func call(log *slog.Logger, kv shared.KV, n int) {
	want := strconv.Itoa(n)
	err := kv.Put("tick", []byte(want))
	var got []byte
	if err == nil {
		got, err = kv.Get("tick")
	}
	if err != nil {
		log.Warn("call", "tick", n, "ok", false, "error", err.Error())
		return
	}
	log.Info("call", "tick", n, "ok", true, "value", string(got))
}

// detach closes the gRPC connection without go-plugin's Client.Kill, which
// would ask the sidecar to shut down (and, the plugin socket being the same
// path, could reach its restarted successor).
func detach(client *plugin.Client) {
	if client == nil {
		return
	}
	rpc, err := client.Client()
	if err != nil {
		return
	}
	if g, ok := rpc.(*plugin.GRPCClient); ok && g.Conn != nil {
		_ = g.Conn.Close()
	}
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// unixMillis writes the record's time as milliseconds since the epoch, the
// form the e2e tests compare with.
func unixMillis(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Int64(slog.TimeKey, a.Value.Time().UnixMilli())
	}
	return a
}
