package podplug

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-plugin"
)

// bareSocketGrace is how long a socket without a handshake file is given for
// the file to appear (a launcher writes it just after its Go plugin's socket
// appears) before an unknown version is reported, as the TypeScript host does.
const bareSocketGrace = time.Second

// DefaultSocketRoot is where host containers mount the podplug socket volume.
const DefaultSocketRoot = "/var/run/podplug"

// HandshakeFileName is the file a podplug (TypeScript) sidecar plugin writes
// its handshake line to, inside its socket folder.
const HandshakeFileName = "handshake"

// Dir returns the socket folder of the injected plugin name:
// $PODPLUG_SOCKET_ROOT/<name>, the root defaulting to /var/run/podplug.
func Dir(name string) string {
	root := os.Getenv("PODPLUG_SOCKET_ROOT")
	if root == "" {
		root = DefaultSocketRoot
	}
	return filepath.Join(root, name)
}

// Plugins returns the injected plugin names ($PODPLUG_PLUGINS).
func Plugins() []string {
	var names []string
	for _, n := range strings.Split(os.Getenv("PODPLUG_PLUGINS"), ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// Options tune how a sidecar plugin is found and watched.
type Options struct {
	// ProtocolVersion is the application protocol version of a plugin that
	// writes no handshake file (an unmodified Go plugin announces its version
	// only on its stdout, which the host cannot read). There is no default: a
	// handshake file's version is used when there is one, and without either
	// Locate fails with CodeVersionUnknown rather than guess.
	ProtocolVersion int
	// Timeout bounds how long Locate waits for a live socket (the plugin
	// container may still be starting). Default 30s.
	Timeout time.Duration
	// PollInterval is how often the attached runner probes the socket to
	// notice that the plugin went away. Default 1s.
	PollInterval time.Duration
	// AnyBrokerDir lets host-side broker listeners live outside the plugin's
	// folder. Leave it false in pods: the plugin container cannot reach them.
	AnyBrokerDir bool
	// CertDir holds the host's AutoMTLS certificate (tls.crt, tls.key), used
	// by Attach when the plugin's handshake announces TLS. Default:
	// CertDir(<the folder's name>), where the operator mounts it.
	CertDir string
}

func (o Options) withDefaults() Options {
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.PollInterval == 0 {
		o.PollInterval = time.Second
	}
	return o
}

// locatePoll is how often Locate looks again without a change seen in dir:
// the folder may not exist yet, or its filesystem may not report changes.
var locatePoll = 100 * time.Millisecond

// Locate finds the plugin serving in dir: the line in dir/handshake when the
// plugin wrote one, else the newest plugin* socket that accepts a connection
// (an unmodified Go plugin names its socket plugin<random>), whose version is
// opts.ProtocolVersion. It looks again on every change in dir (inotify,
// through fsnotify) and at least every 100 ms, until opts.Timeout or ctx
// ends; a live socket without a handshake file and without
// opts.ProtocolVersion fails with CodeVersionUnknown once the file has had
// bareSocketGrace to appear.
func Locate(ctx context.Context, dir string, opts Options) (Handshake, error) {
	opts = opts.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	w := newDirWatch(dir)
	defer w.close()
	var bareSince time.Time
	for {
		// Watched before each look, so that a change made while looking is not missed.
		w.ensure()
		h, err := locateOnce(dir, opts)
		if err == nil {
			return h, nil
		}
		if HasCode(err, CodeVersionUnknown) {
			if bareSince.IsZero() {
				bareSince = time.Now()
			}
			if time.Since(bareSince) >= bareSocketGrace {
				return Handshake{}, err
			}
		} else {
			bareSince = time.Time{}
		}
		select {
		case <-ctx.Done():
			return Handshake{}, fmt.Errorf("podplug: no live plugin in %s after %s: %w", dir, opts.Timeout, err)
		case <-w.changed():
		case <-time.After(locatePoll):
		}
	}
}

// afterHandshakeRead runs between reading the handshake file and judging it:
// a test's seam for a plugin that renames its new line into place just then.
var afterHandshakeRead = func() {}

func locateOnce(dir string, opts Options) (Handshake, error) {
	file := filepath.Join(dir, HandshakeFileName)
	raw, info, err := readHandshakeFile(file)
	switch {
	case err == nil:
		afterHandshakeRead()
		h, err := ParseHandshake(string(raw))
		if err != nil {
			return Handshake{}, err
		}
		if h.Network == "unix" {
			if !alive(h.Addr) {
				return Handshake{}, fmt.Errorf("handshake file names %s, which refuses connections", h.Addr)
			}
			if err := announcedAfter(file, info, h.Addr); err != nil {
				return Handshake{}, err
			}
		}
		return h, nil
	case !errors.Is(err, fs.ErrNotExist):
		return Handshake{}, err
	}
	sock, err := liveSocket(dir)
	if err != nil {
		return Handshake{}, err
	}
	if opts.ProtocolVersion == 0 {
		return Handshake{}, codedf(CodeVersionUnknown,
			"the plugin in %s serves %s but wrote no handshake file, so its protocol version is unknown; set Options.ProtocolVersion to the version it serves, or run it under a launcher that writes the handshake file",
			dir, sock)
	}
	return Handshake{
		CoreVersion: plugin.CoreProtocolVersion,
		AppVersion:  opts.ProtocolVersion,
		Network:     "unix",
		Addr:        sock,
		Protocol:    plugin.ProtocolGRPC,
	}, nil
}

// liveSocket returns the newest plugin* socket in dir (not a TypeScript sidecar's
// plugin.sock) that accepts a connection.
func liveSocket(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	type cand struct {
		path string
		mod  time.Time
	}
	var cands []cand
	for _, e := range entries {
		// A podplug TypeScript sidecar's plugin.sock counts only through its handshake
		// file: seen before the file is written, its version would be assumed.
		if !strings.HasPrefix(e.Name(), "plugin") || e.Name() == "plugin.sock" || e.Type()&fs.ModeSocket == 0 {
			continue
		}
		if info, err := e.Info(); err == nil {
			cands = append(cands, cand{filepath.Join(dir, e.Name()), info.ModTime()})
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].mod.After(cands[j].mod) })
	for _, c := range cands {
		if alive(c.path) {
			return c.path, nil
		}
	}
	return "", fmt.Errorf("no plugin* socket in %s accepts connections", dir)
}

// readHandshakeFile reads the handshake file and the mtime of what it read:
// both from one open file. A stat by name after the read could see the
// restarted plugin's file renamed in meanwhile, and vouch for the old line.
func readHandshakeFile(file string) ([]byte, fs.FileInfo, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	// A handshake line is well under 4 KiB even with a certificate; 64 KiB bounds a hostile file.
	raw, err := io.ReadAll(io.LimitReader(f, 64<<10))
	return raw, info, err
}

// announcedAfter fails while the handshake file read (info) is older than
// the socket it names: a plugin killed outright leaves its file behind, and
// its restart binds the same path before it writes its own line. Attaching
// with the old line would take the old AutoMTLS certificate and fail every
// call on a connection that looks alive. Both writers, serve() and the
// launcher, write the file after the socket exists.
func announcedAfter(file string, info fs.FileInfo, sock string) error {
	si, err := os.Stat(sock)
	if err != nil {
		return err
	}
	if info.ModTime().Before(si.ModTime()) {
		return fmt.Errorf("handshake file %s is older than the socket %s: the restarted plugin has not announced itself yet", file, sock)
	}
	return nil
}

func alive(path string) bool {
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}
