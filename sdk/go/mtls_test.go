package podplug

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	counter "github.com/hashicorp/go-plugin/examples/bidirectional/shared"
)

// hostCert makes a certificate with go-plugin's AutoMTLS profile (what the
// operator puts in Secret podplug-<name>-mtls) and writes tls.crt and tls.key
// into a new folder. It returns the folder and the certificate's PEM.
func hostCert(t *testing.T) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"HashiCorp"}},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-30 * time.Second),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), []byte(certPEM), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, certPEM
}

// startMTLSSidecar starts the plain Go plugin with PLUGIN_CLIENT_CERT (so
// go-plugin serves AutoMTLS) and writes its handshake line, certificate and
// all, to the handshake file, as podplug's launcher does.
func startMTLSSidecar(t *testing.T, dir, certPEM string) Handshake {
	t.Helper()
	_, line := startSidecar(t, dir, "PLUGIN_CLIENT_CERT="+certPEM)
	h, err := ParseHandshake(line)
	if err != nil {
		t.Fatal(err)
	}
	if h.ServerCert == "" {
		t.Fatalf("the plugin announced no certificate: %s", line)
	}
	if err := os.WriteFile(filepath.Join(dir, HandshakeFileName), []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return h
}

func attachMTLS(dir string, opts Options) (*plugin.Client, error) {
	opts.PollInterval, opts.Timeout = 50*time.Millisecond, 5*time.Second
	return Attach(context.Background(), &plugin.ClientConfig{
		HandshakeConfig: handshake,
		Plugins:         pluginSet,
		Logger:          hclog.NewNullLogger(),
	}, dir, opts)
}

// Subtest names stay short: t.TempDir() holds them, and a socket path has 108 bytes.
// calls: the host certificate from CertDir and the handshake's certificate carry calls and broker callbacks.
// env: the default folder is $PODPLUG_MTLS_ROOT/<the socket folder's name>.
// no cert, bad cert: HANDSHAKE_CERT. foreign: a host certificate the plugin was not given is refused.
func TestAttachAutoMTLS(t *testing.T) {
	t.Run("calls", func(t *testing.T) {
		certDir, certPEM := hostCert(t)
		dir := t.TempDir()
		startMTLSSidecar(t, dir, certPEM)
		c, err := attachMTLS(dir, Options{CertDir: certDir})
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("TMPDIR", t.TempDir())
		_ = SetBrokerDir(dir)
		cnt := dispense[counter.Counter](t, c, "counter")
		if err := cnt.Put("n", 5, adder()); err != nil {
			t.Fatal(err)
		}
		if v, err := cnt.Get("n"); err != nil || v != 5 {
			t.Fatalf("Get = %d, %v", v, err)
		}
	})
	t.Run("env", func(t *testing.T) {
		certDir, certPEM := hostCert(t)
		root := t.TempDir()
		dir := filepath.Join(root, "counter")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		startMTLSSidecar(t, dir, certPEM)
		mroot := t.TempDir()
		if err := os.Symlink(certDir, filepath.Join(mroot, "counter")); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PODPLUG_MTLS_ROOT", mroot)
		c, err := attachMTLS(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rpc, err := c.Client(); err != nil || rpc.Ping() != nil {
			t.Fatalf("ping: %v", err)
		}
	})
	t.Run("no cert", func(t *testing.T) {
		_, certPEM := hostCert(t)
		dir := t.TempDir()
		startMTLSSidecar(t, dir, certPEM)
		t.Setenv("PODPLUG_MTLS_ROOT", "")
		_, err := attachMTLS(dir, Options{})
		if !HasCode(err, CodeCert) || !strings.Contains(err.Error(), "Options.CertDir") {
			t.Fatalf("err = %v", err)
		}
		_, err = attachMTLS(dir, Options{CertDir: t.TempDir()})
		if !HasCode(err, CodeCert) || !strings.Contains(err.Error(), "not readable") {
			t.Fatalf("empty folder: err = %v", err)
		}
	})
	t.Run("bad cert", func(t *testing.T) {
		certDir, certPEM := hostCert(t)
		dir := t.TempDir()
		h := startMTLSSidecar(t, dir, certPEM)
		h.ServerCert = strings.Repeat("A", 80)
		_ = os.WriteFile(filepath.Join(dir, HandshakeFileName), []byte(h.String()+"\n"), 0o644)
		_, err := attachMTLS(dir, Options{CertDir: certDir})
		if !HasCode(err, CodeCert) || !strings.Contains(err.Error(), "does not parse") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("foreign", func(t *testing.T) {
		_, certPEM := hostCert(t)
		otherDir, _ := hostCert(t)
		dir := t.TempDir()
		startMTLSSidecar(t, dir, certPEM)
		c, err := attachMTLS(dir, Options{CertDir: otherDir})
		if err == nil {
			var rpc plugin.ClientProtocol
			if rpc, err = c.Client(); err == nil {
				err = rpc.Ping()
			}
		}
		if err == nil {
			t.Fatal("a foreign host certificate was accepted")
		}
	})
}
