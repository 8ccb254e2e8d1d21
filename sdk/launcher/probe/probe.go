package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/podplug/podplug/sdk/launcher/internal/handshake"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// probe answers an exec liveness/readiness probe: one gRPC health Check of
// service "plugin" over the socket the handshake file names, with AutoMTLS
// when the handshake carries the plugin's certificate (presenting the host
// certificate mounted at $PODPLUG_MTLS_ROOT/<name>, trusting exactly the
// announced one). nil means SERVING; the error is the reason the kubelet
// shows in the probe's event.
func probe(env func(string) string, timeout time.Duration) error {
	file := env(envHandshakeFile)
	if file == "" {
		return fmt.Errorf("%s is not set: run the probe in the plugin's container, with the injected environment", envHandshakeFile)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var h handshake.Handshake
	raw, err := os.ReadFile(file)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// A plugin not run by the launcher (its Plugin names no command): find its socket as a host would.
		sock, scanErr := scanSockets(ctx, filepath.Dir(file))
		if scanErr != nil {
			return fmt.Errorf("no handshake file %s and %w: the plugin has not announced itself yet, or exited", file, scanErr)
		}
		h = handshake.Handshake{Network: "unix", Address: sock}
	case err != nil:
		return fmt.Errorf("cannot read the handshake file: %w", err)
	default:
		if h, err = handshake.Parse(string(bytes.TrimRight(raw, "\r\n"))); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	}
	if h.Network != "unix" {
		return fmt.Errorf("%s: the plugin listens on %s; the probe dials Unix sockets only", file, h.Network)
	}
	creds, err := probeCredentials(env, h.Cert)
	if err != nil {
		return err
	}
	conn, err := grpc.DialContext(ctx, "unix:"+h.Address, grpc.WithTransportCredentials(creds))
	if err != nil {
		return fmt.Errorf("cannot dial %s: %w", h.Address, err)
	}
	defer conn.Close()
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: healthService})
	if err != nil {
		err = fmt.Errorf("health check over %s failed within %s: %w", h.Address, timeout, err)
		if ctx.Err() != nil {
			return &noAnswer{err}
		}
		return err
	}
	if res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("plugin at %s reports %s, not SERVING", h.Address, res.GetStatus())
	}
	return nil
}

// probeCredentials is plaintext without a certificate in the handshake, else
// mutual TLS pinned to that certificate.
func probeCredentials(env func(string) string, certField string) (credentials.TransportCredentials, error) {
	if certField == "" {
		return insecure.NewCredentials(), nil
	}
	der, err := base64.RawStdEncoding.DecodeString(certField)
	if err != nil {
		if der, err = base64.StdEncoding.DecodeString(certField); err != nil {
			return nil, fmt.Errorf("the handshake's certificate field is not base64: %w", err)
		}
	}
	root, name := env(envMTLSRoot), env(envPluginName)
	if root == "" || name == "" {
		return nil, fmt.Errorf("the plugin serves AutoMTLS but %s or %s is not set: mount the host certificate (Secret podplug-<name>-mtls) and set both", envMTLSRoot, envPluginName)
	}
	dir := filepath.Join(root, name)
	own, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		return nil, fmt.Errorf("the plugin serves AutoMTLS but the host certificate in %s is not usable: %w", dir, err)
	}
	return credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{own},
		MinVersion:   tls.VersionTLS12,
		// The plugin's certificate is self-signed and throwaway: trust exactly the announced one.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], der) {
				return errors.New("the plugin presented another certificate than its handshake announced")
			}
			return nil
		},
	}), nil
}

// noAnswer is a check that ran out of time: the plugin is hung (or stopped),
// not merely unhealthy. The launcher kills such a plugin at once on SIGTERM.
type noAnswer struct{ error }

func (e *noAnswer) Unwrap() error { return e.error }
