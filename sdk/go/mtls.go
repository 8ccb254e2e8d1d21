package podplug

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
)

// CodeCert: the plugin serves AutoMTLS and the host certificate cannot be
// read, or the plugin's certificate in the handshake cannot be parsed.
const CodeCert = "HANDSHAKE_CERT"

// DefaultMTLSRoot is where the operator mounts each AutoMTLS Plugin's host
// certificate ($PODPLUG_MTLS_ROOT/<name>/tls.crt, tls.key).
const DefaultMTLSRoot = "/var/run/podplug-mtls"

// CertDir returns the folder of plugin name's host certificate,
// $PODPLUG_MTLS_ROOT/<name>, or "" when the pod has no AutoMTLS Plugin (the
// operator sets PODPLUG_MTLS_ROOT only then).
func CertDir(name string) string {
	root := os.Getenv("PODPLUG_MTLS_ROOT")
	if root == "" {
		return ""
	}
	return filepath.Join(root, name)
}

// mtlsConfig is go-plugin's AutoMTLS client configuration for a plugin that
// announced serverCert (base64 DER, unpadded) in its handshake: the host
// certificate from certDir (the one the plugin got in PLUGIN_CLIENT_CERT),
// and the plugin's certificate as the only root. go-plugin does this itself
// only for plugins it starts; on reattach it uses ClientConfig.TLSConfig.
func mtlsConfig(serverCert, certDir, plugin string) (*tls.Config, error) {
	if certDir == "" {
		return nil, codedf(CodeCert, "plugin %s serves AutoMTLS but this host has no certificate folder: set Options.CertDir, or run in a pod where the operator sets PODPLUG_MTLS_ROOT (the Plugin's spec.autoMTLS)", plugin)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(certDir, "tls.crt"), filepath.Join(certDir, "tls.key"))
	if err != nil {
		return nil, codedf(CodeCert, "plugin %s serves AutoMTLS but the host certificate is not readable in %s (%v); is spec.autoMTLS set and the Secret podplug-%s-mtls mounted?", plugin, certDir, err, plugin)
	}
	der, err := base64.RawStdEncoding.DecodeString(serverCert)
	if err != nil {
		return nil, codedf(CodeCert, "plugin %s announced a certificate that is not unpadded base64: %v", plugin, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, codedf(CodeCert, "plugin %s announced a certificate that does not parse: %v", plugin, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
		ServerName:   "localhost",
	}, nil
}
