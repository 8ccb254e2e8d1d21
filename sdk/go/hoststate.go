package podplug

// The host's connection state for one plugin, as a file beside the plugin's
// socket: <PODPLUG_SOCKET_ROOT>/<plugin>/host-state.json, the same file, in
// the same format (version 1), as the TypeScript host SDK writes
// (src/host/host-state.ts). The host container's injected readiness probe,
// `podplug-launcher ready <plugin>...`, reads it: the pod, and so the Plugin's
// READY column, is Ready only while the host can use its plugins.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// HostStateFileName is the state file's name in the plugin's folder.
const HostStateFileName = "host-state.json"

// The host's states, as the launcher's `ready` command reads them.
const (
	StateReady      = "ready"
	StateConnecting = "connecting"
	StateFailing    = "failing"
	StateStopped    = "stopped"
)

// CodeCallsFailing: the last calls on a live connection all failed with a
// status that says the plugin cannot do its work.
const CodeCallsFailing = "CALLS_FAILING"

// reasonMax is the longest reason the file carries (the TS host's REASON_MAX).
const reasonMax = 400

// failureCodes are the call statuses that count against the plugin (the TS
// host's PLUGIN_FAILURE_CODES); a NotFound or InvalidArgument is the caller's.
var failureCodes = map[codes.Code]bool{
	codes.Unknown: true, codes.Internal: true, codes.Unavailable: true, codes.DeadlineExceeded: true,
	codes.Unimplemented: true, codes.DataLoss: true, codes.ResourceExhausted: true,
}

// go-plugin's own services: their calls are not the host's use of the plugin.
var internalServices = []string{"/grpc.health.v1.Health/", "/plugin.GRPCBroker/", "/plugin.GRPCController/", "/plugin.GRPCStdio/"}

// HostState writes one plugin's host state file. Its methods are safe for
// concurrent use; a write that fails is reported once through OnWriteError
// and never fails the host.
type HostState struct {
	// FailedCalls is how many consecutive failed calls make the state failing
	// (CALLS_FAILING) until a call succeeds. Default 3, as the TS host.
	FailedCalls int
	// OnWriteError, if set, is told the first write that failed (a folder the
	// host may not write in): the readiness probe then cannot see this host.
	OnWriteError func(error)

	path, plugin string
	mu           sync.Mutex
	last         string
	state        string
	failed       int
	warned       bool
}

type hostStateRecord struct {
	Version   int    `json:"version"`
	Plugin    string `json:"plugin"`
	State     string `json:"state"`
	Code      string `json:"code,omitempty"`
	Reason    string `json:"reason,omitempty"`
	UpdatedAt string `json:"updatedAt"`
}

// NewHostState returns the state writer for the plugin served in dir (its
// name is the folder's, as Dir(name) gives it). Nothing is written until the
// first Set.
func NewHostState(dir string) *HostState {
	return &HostState{path: filepath.Join(dir, HostStateFileName), plugin: filepath.Base(dir)}
}

// Path is the state file's path.
func (s *HostState) Path() string { return s.path }

// State is the state last written ("" before the first).
func (s *HostState) State() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Set records state with an optional code and reason; a no-op when the file
// already says exactly that. Written to a temporary file and renamed, so the
// probe never reads half a file.
func (s *HostState) Set(state, code, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set(state, code, reason)
}

func (s *HostState) set(state, code, reason string) {
	reason = clip(reason)
	key := state + "\x00" + code + "\x00" + reason
	if key == s.last {
		return
	}
	s.last, s.state = key, state
	if state == StateReady || state == StateConnecting {
		s.failed = 0
	}
	raw, _ := json.Marshal(hostStateRecord{
		Version: 1, Plugin: s.plugin, State: state, Code: code, Reason: reason,
		UpdatedAt: time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
	})
	tmp := fmt.Sprintf("%s.%d.tmp", s.path, os.Getpid())
	err := os.WriteFile(tmp, append(raw, '\n'), 0o644)
	if err == nil {
		// WriteFile's mode is masked by the umask: the probe may run as another uid.
		_ = os.Chmod(tmp, 0o644)
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		if !s.warned && s.OnWriteError != nil {
			s.warned = true
			s.OnWriteError(fmt.Errorf("podplug: cannot write the host state file %s (the pod's readiness probe cannot see this host's connection state): %w", s.path, err))
		}
	}
}

// Observe counts one call's outcome: after FailedCalls consecutive failures
// (by failureCodes) the state is failing, CALLS_FAILING; the next success
// makes it ready again. Only calls on a live connection should be observed
// (while re-attaching, the state already says connecting).
func (s *HostState) Observe(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.failed = 0
		if s.state == StateFailing && strings.Contains(s.last, CodeCallsFailing) {
			s.set(StateReady, "", "")
		}
		return
	}
	st, _ := status.FromError(err)
	if !failureCodes[st.Code()] || s.state == StateConnecting || s.state == StateStopped {
		return
	}
	s.failed++
	threshold := s.FailedCalls
	if threshold <= 0 {
		threshold = 3
	}
	if s.failed < threshold {
		return
	}
	s.set(StateFailing, CodeCallsFailing, fmt.Sprintf("the last %d calls to plugin %s failed; the last: %s: %s", s.failed, s.plugin, codeName(st.Code()), st.Message()))
}

// codeName is the status name as the TS host writes it (UNAVAILABLE, DEADLINE_EXCEEDED).
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// DialOptions observe every unary call the host makes to its plugin (not
// go-plugin's own health, broker, controller and stdio services): give them
// to go-plugin's ClientConfig.GRPCDialOptions.
func (s *HostState) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			err := invoker(ctx, method, req, reply, cc, opts...)
			for _, p := range internalServices {
				if strings.HasPrefix(method, p) {
					return err
				}
			}
			s.Observe(err)
			return err
		})}
}

// Remove deletes the state file (the host is exiting: the probe then says it
// has not attached). A file already gone is no error.
func (s *HostState) Remove() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last, s.state = "", ""
	if err := os.Remove(s.path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

func clip(s string) string {
	if utf8.RuneCountInString(s) <= reasonMax {
		return s
	}
	r := []rune(s)
	return string(r[:reasonMax-1]) + "…"
}
