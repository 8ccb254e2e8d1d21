package podplug

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

func readState(t *testing.T, s *HostState) hostStateRecord {
	t.Helper()
	raw, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	var r hostStateRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return r
}

func TestHostStateFileFormat(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kv")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := NewHostState(dir)
	if s.Path() != filepath.Join(dir, "host-state.json") {
		t.Fatalf("path %s", s.Path())
	}
	if _, err := os.Stat(s.Path()); !os.IsNotExist(err) {
		t.Fatalf("written before the first Set: %v", err)
	}
	s.Set(StateConnecting, "", "")
	r := readState(t, s)
	if r.Version != 1 || r.Plugin != "kv" || r.State != "connecting" || r.Code != "" || r.Reason != "" {
		t.Fatalf("%+v", r)
	}
	if _, err := time.Parse(time.RFC3339Nano, r.UpdatedAt); err != nil || !strings.HasSuffix(r.UpdatedAt, "Z") {
		t.Fatalf("updatedAt %q: %v", r.UpdatedAt, err)
	}
	s.Set(StateFailing, "SOCKET_PERMISSION", strings.Repeat("x", 1000))
	r = readState(t, s)
	if r.State != "failing" || r.Code != "SOCKET_PERMISSION" || len([]rune(r.Reason)) != reasonMax {
		t.Fatalf("%+v", r)
	}
	raw, _ := os.ReadFile(s.Path())
	var keys map[string]any
	_ = json.Unmarshal(raw, &keys)
	s.Set(StateReady, "", "")
	raw, _ = os.ReadFile(s.Path())
	keys = map[string]any{}
	_ = json.Unmarshal(raw, &keys)
	if _, ok := keys["code"]; ok {
		t.Fatalf("ready carries no code: %s", raw)
	}
	fi, err := os.Stat(s.Path())
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v: %v", fi.Mode(), err)
	}
	// No temporary file is left beside it.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("folder holds %v", entries)
	}
	if err := s.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Path()); !os.IsNotExist(err) {
		t.Fatalf("not removed: %v", err)
	}
	if err := s.Remove(); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
}

func TestHostStateCallsRule(t *testing.T) {
	s := NewHostState(t.TempDir())
	s.Set(StateReady, "", "")
	unavailable := status.Error(codes.Unavailable, "connection refused")
	// The caller's own errors never count against the plugin.
	for i := 0; i < 5; i++ {
		s.Observe(status.Error(codes.NotFound, "no such key"))
		s.Observe(status.Error(codes.InvalidArgument, "bad"))
	}
	if s.State() != StateReady {
		t.Fatalf("caller errors made it %s", s.State())
	}
	s.Observe(unavailable)
	s.Observe(unavailable)
	s.Observe(nil) // a success in between starts the count again
	s.Observe(unavailable)
	s.Observe(unavailable)
	if s.State() != StateReady {
		t.Fatalf("2 failures made it %s", s.State())
	}
	s.Observe(status.Error(codes.Unknown, "open kv_tick: read-only file system"))
	r := readState(t, s)
	if r.State != "failing" || r.Code != CodeCallsFailing ||
		r.Reason != "the last 3 calls to plugin "+filepath.Base(filepath.Dir(s.Path()))+" failed; the last: UNKNOWN: open kv_tick: read-only file system" {
		t.Fatalf("%+v", r)
	}
	s.Observe(nil)
	if readState(t, s).State != "ready" {
		t.Fatal("a success did not make it ready again")
	}
	// While re-attaching the state says connecting: failures then do not turn it into failing.
	s.Set(StateConnecting, "", "plugin went away")
	for i := 0; i < 5; i++ {
		s.Observe(unavailable)
	}
	if s.State() != StateConnecting {
		t.Fatalf("connecting became %s", s.State())
	}
	// A failed attach's state is not undone by a success (only CALLS_FAILING is).
	s.Set(StateFailing, "HANDSHAKE_APP_VERSION", "wrong version")
	s.Observe(nil)
	if s.State() != StateFailing {
		t.Fatalf("an attach failure was cleared by a call: %s", s.State())
	}
	if codeName(codes.DeadlineExceeded) != "DEADLINE_EXCEEDED" || codeName(codes.Unavailable) != "UNAVAILABLE" {
		t.Fatalf("%s %s", codeName(codes.DeadlineExceeded), codeName(codes.Unavailable))
	}
}

// A folder the host may not write in (here: not a folder at all, which refuses root too).
func TestHostStateWriteErrorReportedOnce(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := NewHostState(file)
	var errs []error
	s.OnWriteError = func(err error) { errs = append(errs, err) }
	s.Set(StateConnecting, "", "")
	s.Set(StateReady, "", "")
	if len(errs) != 1 || !errors.Is(errs[0], syscall.ENOTDIR) || !strings.Contains(errs[0].Error(), s.Path()) {
		t.Fatalf("%v", errs)
	}
	if s.State() != StateReady {
		t.Fatalf("state %s", s.State())
	}
}

func TestHostStateMissingFolder(t *testing.T) {
	s := NewHostState(filepath.Join(t.TempDir(), "gone"))
	var got error
	s.OnWriteError = func(err error) { got = err }
	s.Set(StateReady, "", "")
	if !errors.Is(got, os.ErrNotExist) {
		t.Fatalf("%v", got)
	}
}

// The interceptor, on a real gRPC server over a Unix socket that serves no
// service at all: every call ends Unimplemented, a failure code.
func TestHostStateDialOptions(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	s := NewHostState(dir)
	s.Set(StateReady, "", "")
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, s.DialOptions()...)
	cc, err := grpc.DialContext(context.Background(), "unix://"+sock, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var in, out struct{}
	call := func(method string) {
		if err := cc.Invoke(ctx, method, &in, &out, grpc.ForceCodec(emptyCodec{})); status.Code(err) != codes.Unimplemented {
			t.Fatalf("%s: %v", method, err)
		}
	}
	// go-plugin's own services are not the host's calls.
	for i := 0; i < 5; i++ {
		call("/grpc.health.v1.Health/Check")
		call("/plugin.GRPCController/Shutdown")
	}
	if s.State() != StateReady {
		t.Fatalf("internal calls counted: %s", s.State())
	}
	for i := 0; i < 3; i++ {
		call("/proto.KV/Get")
	}
	r := readState(t, s)
	if r.State != "failing" || !strings.Contains(r.Reason, "UNIMPLEMENTED: unknown service proto.KV") {
		t.Fatalf("%+v", r)
	}
}

type emptyCodec struct{}

func (emptyCodec) Marshal(any) ([]byte, error) { return nil, nil }
func (emptyCodec) Unmarshal([]byte, any) error { return nil }
func (emptyCodec) Name() string                { return "proto" }
