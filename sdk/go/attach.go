package podplug

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
)

// Reattach locates the plugin in dir and returns the go-plugin ReattachConfig
// for it. Its ReattachFunc yields a runner that watches the socket instead of
// a PID (the plugin lives in another container, another PID namespace).
func Reattach(ctx context.Context, dir string, opts Options) (*plugin.ReattachConfig, error) {
	opts = opts.withDefaults()
	h, err := Locate(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	return reattachConfig(dir, h, opts)
}

func reattachConfig(dir string, h Handshake, opts Options) (*plugin.ReattachConfig, error) {
	if h.Network != "unix" {
		return nil, fmt.Errorf("podplug: plugin in %s serves on %s %s; sidecars serve on unix sockets", dir, h.Network, h.Addr)
	}
	if h.Multiplex {
		return nil, errors.New("podplug: the plugin multiplexes its broker (PLUGIN_MULTIPLEX_GRPC), which go-plugin does not support on reattach")
	}
	addr := &net.UnixAddr{Net: "unix", Name: h.Addr}
	return &plugin.ReattachConfig{
		Protocol:        h.Protocol,
		ProtocolVersion: h.AppVersion,
		Addr:            addr,
		ReattachFunc: func() (runner.AttachedRunner, error) {
			return newSocketRunner(dir, h.Addr, opts)
		},
	}, nil
}

// Attach fills cfg to reattach to the sidecar plugin in dir and returns the
// client. cfg must not set Cmd, RunnerFunc, SecureConfig or
// GRPCBrokerMultiplex (go-plugin refuses them with Reattach). go-plugin
// ignores VersionedPlugins on reattach, so Attach copies the set for the
// located version into cfg.Plugins when cfg.Plugins is empty. When the
// plugin's handshake announces AutoMTLS and cfg.TLSConfig is nil, Attach
// sets it from the host certificate in opts.CertDir (default
// CertDir(<folder name>)) and the plugin's announced certificate.
func Attach(ctx context.Context, cfg *plugin.ClientConfig, dir string, opts Options) (*plugin.Client, error) {
	if cfg.Cmd != nil || cfg.RunnerFunc != nil || cfg.SecureConfig != nil || cfg.GRPCBrokerMultiplex {
		return nil, errors.New("podplug: Attach needs a ClientConfig without Cmd, RunnerFunc, SecureConfig and GRPCBrokerMultiplex")
	}
	opts = opts.withDefaults()
	h, err := Locate(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	rc, err := reattachConfig(dir, h, opts)
	if err != nil {
		return nil, err
	}
	if h.ServerCert != "" && cfg.TLSConfig == nil {
		certDir := opts.CertDir
		if certDir == "" {
			certDir = CertDir(filepath.Base(dir))
		}
		if cfg.TLSConfig, err = mtlsConfig(h.ServerCert, certDir, filepath.Base(dir)); err != nil {
			return nil, err
		}
	}
	if cfg.Plugins == nil {
		cfg.Plugins = cfg.VersionedPlugins[rc.ProtocolVersion]
	}
	if cfg.Plugins == nil {
		offered := make([]int, 0, len(cfg.VersionedPlugins))
		for v := range cfg.VersionedPlugins {
			offered = append(offered, v)
		}
		sort.Ints(offered)
		return nil, codedf(CodeAppVersion, "the plugin in %s serves protocol version %d, and the host has no plugin set for it (VersionedPlugins offers %v)", dir, rc.ProtocolVersion, offered)
	}
	cfg.Reattach = rc
	return plugin.NewClient(cfg), nil
}

// SetBrokerDir points TMPDIR at dir. go-plugin creates the host side of
// broker connections (GRPCBroker.AcceptAndServe, used for callbacks) with
// os.CreateTemp("", ...) when reattached, and only a socket inside the
// plugin's folder is reachable from the plugin container. TMPDIR is process
// wide: a host that serves callbacks to several sidecar plugins must set it
// before each AcceptAndServe, or run one process per plugin.
func SetBrokerDir(dir string) error {
	return os.Setenv("TMPDIR", dir)
}

// socketRunner is the runner.AttachedRunner of a sidecar plugin.
type socketRunner struct {
	dir, sock string
	opts      Options
	ino       uint64 // the socket file's inode when attached
	stop      chan struct{}
	once      sync.Once
}

func newSocketRunner(dir, sock string, opts Options) (*socketRunner, error) {
	ino, err := inode(sock)
	if err != nil {
		return nil, fmt.Errorf("podplug: %w", err)
	}
	if !alive(sock) {
		return nil, fmt.Errorf("podplug: %s refuses connections", sock)
	}
	return &socketRunner{dir: dir, sock: sock, opts: opts, ino: ino, stop: make(chan struct{})}, nil
}

// Wait returns when the plugin is gone: the socket file was removed or
// replaced (a restarted sidecar), or it refuses connections (the process was
// killed), or Kill was called.
func (r *socketRunner) Wait(ctx context.Context) error {
	t := time.NewTicker(r.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if ino, err := inode(r.sock); err != nil || ino != r.ino {
			return fmt.Errorf("podplug: plugin socket %s was removed or replaced", r.sock)
		}
		if !alive(r.sock) {
			return fmt.Errorf("podplug: plugin socket %s refuses connections", r.sock)
		}
	}
}

// Kill detaches: the sidecar's lifetime belongs to Kubernetes (or whoever
// started it). go-plugin's Client.Kill has already asked the plugin to shut
// down over GRPCController before it calls this.
func (r *socketRunner) Kill(context.Context) error {
	r.once.Do(func() { close(r.stop) })
	return nil
}

// ID is non-empty: go-plugin's Client.Kill does nothing for an empty ID.
func (r *socketRunner) ID() string { return "podplug:" + r.sock }

// PluginToHost is the identity: host and plugin mount the socket folder at
// the same absolute path.
func (r *socketRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

// HostToPlugin checks that a host broker listener is reachable from the
// plugin container, i.e. inside the plugin's folder.
func (r *socketRunner) HostToPlugin(network, addr string) (string, string, error) {
	if network != "unix" || r.opts.AnyBrokerDir {
		return network, addr, nil
	}
	if !within(addr, r.dir) {
		dir, _ := filepath.Abs(r.dir)
		return "", "", fmt.Errorf("podplug: broker socket %s is outside the plugin folder %s, so the plugin cannot reach it; call podplug.SetBrokerDir(%q) (sets TMPDIR) before serving callbacks", addr, dir, dir)
	}
	return network, addr, nil
}

// within tells whether the socket path lies inside dir, through symlinks
// (/var/run is often a link to /run).
func within(path, dir string) bool {
	rel, err := filepath.Rel(resolve(dir), resolve(filepath.Dir(path)))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func resolve(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	abs, _ := filepath.Abs(p)
	return abs
}

func inode(path string) (uint64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fmt.Errorf("no inode for %s", path)
	}
	return st.Ino, nil
}
