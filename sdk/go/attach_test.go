package podplug

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	counter "github.com/hashicorp/go-plugin/examples/bidirectional/shared"
)

// The test binary doubles as a plain go-plugin plugin (plugin.Serve, nothing
// podplug-specific), started the way podplug's operator starts a sidecar.
func TestMain(m *testing.M) {
	if os.Getenv("PODPLUG_SDK_TEST_PLUGIN") == "1" {
		servePlugin()
		return
	}
	os.Exit(m.Run())
}

var handshake = plugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: "BASIC_PLUGIN", MagicCookieValue: "hello"}

var pluginSet = plugin.PluginSet{"counter": &counter.CounterPlugin{}}

type counterStore struct {
	mu sync.Mutex
	m  map[string]int64
}

func (c *counterStore) Put(k string, v int64, a counter.AddHelper) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	sum, err := a.Sum(c.m[k], v)
	if err == nil {
		c.m[k] = sum
	}
	return err
}

func (c *counterStore) Get(k string) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k], nil
}

func servePlugin() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshake,
		Plugins: plugin.PluginSet{
			"counter": &counter.CounterPlugin{Impl: &counterStore{m: map[string]int64{}}},
		},
		GRPCServer: plugin.DefaultGRPCServer,
	})
}

// startSidecar starts the plugin with the env podplug injects and returns
// the process and the handshake line it printed.
func startSidecar(t *testing.T, dir string, env ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(),
		"PODPLUG_SDK_TEST_PLUGIN=1",
		"BASIC_PLUGIN=hello",
		"PLUGIN_PROTOCOL_VERSIONS=1",
		"PLUGIN_UNIX_SOCKET_DIR="+dir,
		"PODPLUG_PLUGIN_NAME=counter",
	), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading handshake: %v", err)
	}
	go func() { _, _ = bufio.NewReader(out).WriteTo(discard{}) }()
	return cmd, strings.TrimSpace(line)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// attach reattaches to the plain Go plugin in dir, which writes no handshake
// file: its version (1) is told, as a host must.
func attach(t *testing.T, dir string) *plugin.Client {
	t.Helper()
	c, err := Attach(context.Background(), &plugin.ClientConfig{
		HandshakeConfig: handshake,
		Plugins:         pluginSet,
		Logger:          hclog.NewNullLogger(),
	}, dir, Options{ProtocolVersion: 1, PollInterval: 50 * time.Millisecond, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func dispense[T any](t *testing.T, c *plugin.Client, name string) T {
	t.Helper()
	rpc, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rpc.Dispense(name)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(T)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func adder() counter.AddHelper { return addFn(func(a, b int64) (int64, error) { return a + b, nil }) }

type addFn func(a, b int64) (int64, error)

func (f addFn) Sum(a, b int64) (int64, error) { return f(a, b) }

func TestParseHandshake(t *testing.T) {
	cert := strings.Repeat("A", 60)
	for _, tc := range []struct {
		line string
		want Handshake
		err  bool
	}{
		{line: "1|1|unix|/tmp/plugin1|grpc|\n", want: Handshake{1, 1, "unix", "/tmp/plugin1", plugin.ProtocolGRPC, "", false}},
		{line: "1|5|tcp|127.0.0.1:1234|netrpc|" + cert + "|true", want: Handshake{1, 5, "tcp", "127.0.0.1:1234", plugin.ProtocolNetRPC, cert, true}},
		{line: "1|2|unix|/s", want: Handshake{1, 2, "unix", "/s", plugin.ProtocolNetRPC, "", false}},
		{line: "1|2|unix|/s|grpc|short", want: Handshake{1, 2, "unix", "/s", plugin.ProtocolGRPC, "", false}},
		{line: "1|2|unix", err: true},
		{line: "2|1|unix|/s|grpc|", err: true},
		{line: "1|x|unix|/s|grpc|", err: true},
		{line: "1|1|pipe|/s|grpc|", err: true},
	} {
		got, err := ParseHandshake(tc.line)
		if tc.err != (err != nil) || got != tc.want {
			t.Errorf("ParseHandshake(%q) = %+v, %v", tc.line, got, err)
		}
	}
	if s := (Handshake{1, 1, "unix", "/s", plugin.ProtocolGRPC, "", true}).String(); s != "1|1|unix|/s|grpc||true" {
		t.Errorf("String() = %q", s)
	}
}

func TestAttachUnmodifiedGoPlugin(t *testing.T) {
	dir := t.TempDir()
	cmd, _ := startSidecar(t, dir)
	c := attach(t, dir)

	// The broker callback: the host serves AddHelper, the plugin dials it.
	t.Setenv("TMPDIR", t.TempDir())
	if err := SetBrokerDir(dir); err != nil {
		t.Fatal(err)
	}
	cnt := dispense[counter.Counter](t, c, "counter")
	if err := cnt.Put("n", 40, adder()); err != nil {
		t.Fatal(err)
	}
	if err := cnt.Put("n", 2, adder()); err != nil {
		t.Fatal(err)
	}
	if v, err := cnt.Get("n"); err != nil || v != 42 {
		t.Fatalf("Get = %d, %v", v, err)
	}

	// The PID lives elsewhere: the runner notices the plugin dying by its socket.
	if c.Exited() {
		t.Fatal("Exited() before the plugin died")
	}
	_ = cmd.Process.Kill()
	waitFor(t, "Exited()", c.Exited)
}

func TestBrokerOutsidePluginDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	_, line := startSidecar(t, dir)
	h, _ := ParseHandshake(line)
	r, err := newSocketRunner(dir, h.Addr, Options{}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.HostToPlugin("unix", "/elsewhere/plugin1"); err == nil || !strings.Contains(err.Error(), "SetBrokerDir") {
		t.Fatalf("HostToPlugin outside the folder: %v", err)
	}
	if n, a, err := r.HostToPlugin("unix", filepath.Join(dir, "plugin1")); err != nil || n != "unix" || a != filepath.Join(dir, "plugin1") {
		t.Fatalf("HostToPlugin inside the folder: %s %s %v", n, a, err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.HostToPlugin("unix", filepath.Join(link, "plugin2")); err != nil {
		t.Fatalf("HostToPlugin through a symlink to the folder: %v", err)
	}
	if _, _, err := r.HostToPlugin("unix", filepath.Join(dir, "sub", "plugin3")); err != nil {
		t.Fatalf("HostToPlugin in a sub-folder: %v", err)
	}
	if _, _, err := r.HostToPlugin("unix", filepath.Join(dir, "..", "plugin4")); err == nil {
		t.Fatal("HostToPlugin accepted a socket next to the folder")
	}
	if r.ID() == "" {
		t.Fatal("empty ID: go-plugin's Kill would do nothing")
	}
}

func TestKillShutsDownSidecar(t *testing.T) {
	dir := t.TempDir()
	cmd, line := startSidecar(t, dir)
	h, err := ParseHandshake(line)
	if err != nil {
		t.Fatal(err)
	}
	c := attach(t, dir)
	if rpc, err := c.Client(); err != nil || rpc.Ping() != nil {
		t.Fatalf("ping: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	c.Kill()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("plugin still running after Kill")
	}
	if _, err := os.Stat(h.Addr); !os.IsNotExist(err) {
		t.Fatalf("socket %s left behind: %v", h.Addr, err)
	}
	if !c.Exited() {
		t.Fatal("Exited() false after Kill")
	}
}

func TestLocate(t *testing.T) {
	t.Run("handshake file wins", func(t *testing.T) {
		dir := t.TempDir()
		_, line := startSidecar(t, dir)
		if err := os.WriteFile(filepath.Join(dir, HandshakeFileName), []byte(strings.Replace(line, "|1|", "|7|", 1)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		rc, err := Reattach(context.Background(), dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := ParseHandshake(line)
		if rc.Addr.String() != want.Addr || rc.ProtocolVersion != 7 || rc.Protocol != plugin.ProtocolGRPC || rc.Pid != 0 || rc.Test {
			t.Fatalf("ReattachConfig = %+v", rc)
		}
	})
	t.Run("newest live socket, stale ones skipped", func(t *testing.T) {
		dir := t.TempDir()
		_, line := startSidecar(t, dir)
		stale := filepath.Join(dir, "plugin999")
		l, err := net.Listen("unix", stale)
		if err != nil {
			t.Fatal(err)
		}
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		_ = l.Close()
		h, err := Locate(context.Background(), dir, Options{ProtocolVersion: 3})
		want, _ := ParseHandshake(line)
		if err != nil || h.Addr != want.Addr || h.AppVersion != 3 {
			t.Fatalf("Locate = %+v, %v (want %s)", h, err, want.Addr)
		}
	})
	// Short names: t.TempDir() holds the test's name, and a socket path has 108 bytes.
	// Never guessed: a bare socket without Options.ProtocolVersion is ATTACH_VERSION_UNKNOWN.
	t.Run("version unknown", func(t *testing.T) {
		dir := t.TempDir()
		_, line := startSidecar(t, dir)
		want, _ := ParseHandshake(line)
		start := time.Now()
		_, err := Reattach(context.Background(), dir, Options{Timeout: 20 * time.Second})
		if !HasCode(err, CodeVersionUnknown) || !strings.Contains(err.Error(), want.Addr) || !strings.Contains(err.Error(), "Options.ProtocolVersion") {
			t.Fatalf("err = %v", err)
		}
		// After the handshake file's grace, not after the whole timeout.
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("refused after %s", d)
		}
		var coded *Error
		if !errors.As(err, &coded) || coded.Code != "ATTACH_VERSION_UNKNOWN" {
			t.Fatalf("errors.As: %#v", err)
		}
	})
	t.Run("late handshake file", func(t *testing.T) {
		dir := t.TempDir()
		_, line := startSidecar(t, dir)
		go func() {
			time.Sleep(300 * time.Millisecond)
			_ = os.WriteFile(filepath.Join(dir, HandshakeFileName), []byte(strings.Replace(line, "|1|", "|4|", 1)+"\n"), 0o644)
		}()
		h, err := Locate(context.Background(), dir, Options{Timeout: 5 * time.Second})
		if err != nil || h.AppVersion != 4 {
			t.Fatalf("Locate = %+v, %v", h, err)
		}
	})
	// The watch, not the poll: with the poll an hour apart, only the folder's change can wake Locate.
	t.Run("handshake file seen by the watch", func(t *testing.T) {
		dir := t.TempDir()
		_, line := startSidecar(t, dir)
		defer func(p time.Duration) { locatePoll = p }(locatePoll)
		locatePoll = time.Hour
		go func() {
			time.Sleep(300 * time.Millisecond)
			// As serve() writes it: a temp file renamed into place.
			tmp := filepath.Join(dir, ".handshake.tmp")
			_ = os.WriteFile(tmp, []byte(strings.Replace(line, "|1|", "|8|", 1)+"\n"), 0o644)
			_ = os.Rename(tmp, filepath.Join(dir, HandshakeFileName))
		}()
		h, err := Locate(context.Background(), dir, Options{Timeout: 20 * time.Second})
		if err != nil || h.AppVersion != 8 {
			t.Fatalf("Locate = %+v, %v", h, err)
		}
	})
	// A plugin killed outright leaves its handshake file; its restart binds the same socket path
	// before it writes the new line. The old line (an old AutoMTLS certificate) is never taken.
	t.Run("handshake file older than its socket", func(t *testing.T) {
		dir := t.TempDir()
		_, line := startSidecar(t, dir)
		h, _ := ParseHandshake(line)
		file := filepath.Join(dir, HandshakeFileName)
		stale := strings.Replace(line, "|1|", "|5|", 1)
		if err := os.WriteFile(file, []byte(stale+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Minute)
		if err := os.Chtimes(file, old, old); err != nil {
			t.Fatal(err)
		}
		if _, err := Locate(context.Background(), dir, Options{Timeout: 500 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "older than the socket "+h.Addr) {
			t.Fatalf("a stale handshake file was taken: err = %v", err)
		}
		go func() {
			time.Sleep(300 * time.Millisecond)
			_ = os.WriteFile(file, []byte(strings.Replace(line, "|1|", "|6|", 1)+"\n"), 0o644)
		}()
		got, err := Locate(context.Background(), dir, Options{Timeout: 5 * time.Second})
		if err != nil || got.AppVersion != 6 {
			t.Fatalf("Locate = %+v, %v (want the rewritten line, version 6)", got, err)
		}
	})
	// The restarted plugin renames its line into place between Locate's read of the old file and its
	// check: the check must judge the file that was read, not the one now at that name.
	t.Run("a line renamed in while the old one is judged", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, HandshakeFileName)
		sock := filepath.Join(dir, "plugin.sock")
		line := func(v int) string { return fmt.Sprintf("1|%d|unix|%s|grpc|\n", v, sock) }
		if err := os.WriteFile(file, []byte(line(5)), 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Minute)
		if err := os.Chtimes(file, old, old); err != nil {
			t.Fatal(err)
		}
		// The new process's socket: listening (the backlog answers a dial), newer than the old line.
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		var once sync.Once
		defer func(f func()) { afterHandshakeRead = f }(afterHandshakeRead)
		afterHandshakeRead = func() {
			once.Do(func() {
				tmp := filepath.Join(dir, ".handshake.tmp")
				_ = os.WriteFile(tmp, []byte(line(6)), 0o644)
				_ = os.Rename(tmp, file)
			})
		}
		h, err := Locate(context.Background(), dir, Options{Timeout: 5 * time.Second})
		if err != nil || h.AppVersion != 6 {
			t.Fatalf("Locate = %+v, %v (want the renamed-in line, version 6, never the old one)", h, err)
		}
	})
	t.Run("version not offered", func(t *testing.T) {
		dir := t.TempDir()
		_, line := startSidecar(t, dir)
		_ = os.WriteFile(filepath.Join(dir, HandshakeFileName), []byte(strings.Replace(line, "|1|", "|9|", 1)+"\n"), 0o644)
		_, err := Attach(context.Background(), &plugin.ClientConfig{
			HandshakeConfig:  handshake,
			VersionedPlugins: map[int]plugin.PluginSet{1: pluginSet, 2: pluginSet},
		}, dir, Options{Timeout: 5 * time.Second})
		if !HasCode(err, CodeAppVersion) || !strings.Contains(err.Error(), "version 9") || !strings.Contains(err.Error(), "[1 2]") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("bad handshake file", func(t *testing.T) {
		dir := t.TempDir()
		_, _ = startSidecar(t, dir)
		_ = os.WriteFile(filepath.Join(dir, HandshakeFileName), []byte("1|x|unix|/s|grpc\n"), 0o644)
		_, err := Locate(context.Background(), dir, Options{ProtocolVersion: 1, Timeout: 300 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "bad protocol version") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("times out on an empty folder", func(t *testing.T) {
		_, err := Locate(context.Background(), t.TempDir(), Options{Timeout: 300 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "no live plugin") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("refuses a multiplexed plugin", func(t *testing.T) {
		dir := t.TempDir()
		_, line := startSidecar(t, dir)
		_ = os.WriteFile(filepath.Join(dir, HandshakeFileName), []byte(line+"|true"), 0o644)
		if _, err := Reattach(context.Background(), dir, Options{}); err == nil || !strings.Contains(err.Error(), "PLUGIN_MULTIPLEX_GRPC") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestDir(t *testing.T) {
	t.Setenv("PODPLUG_SOCKET_ROOT", "")
	if d := Dir("kv"); d != "/var/run/podplug/kv" {
		t.Errorf("Dir = %s", d)
	}
	t.Setenv("PODPLUG_SOCKET_ROOT", "/x")
	t.Setenv("PODPLUG_PLUGINS", "kv, counter,")
	if d, p := Dir("kv"), Plugins(); d != "/x/kv" || len(p) != 2 || p[1] != "counter" {
		t.Errorf("Dir = %s, Plugins = %v", d, p)
	}
}
