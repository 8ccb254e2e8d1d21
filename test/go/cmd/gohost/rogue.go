package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/podplug/podplug/test/go/internal/peer"
)

// rogueDial plays a peer without the right certificate: it calls the health
// service on the plugin's address in plaintext and with a self-signed
// certificate the plugin never saw. With AutoMTLS both must be refused.
func rogueDial(addr net.Addr) {
	plainErr := healthCheck(addr, insecure.NewCredentials())
	var certErr error
	cert, err := selfSigned()
	if err == nil {
		certErr = healthCheck(addr, credentials.NewTLS(&tls.Config{
			Certificates:       []tls.Certificate{cert},
			InsecureSkipVerify: true, // a rogue client does not care who answers
			ServerName:         "localhost",
		}))
	} else {
		certErr = err
	}
	peer.Emit("rogue-dial", map[string]any{
		"plaintextRefused": plainErr != nil, "plaintextError": errString(plainErr),
		"wrongCertRefused": certErr != nil, "wrongCertError": errString(certErr),
	})
}

func healthCheck(addr net.Addr, creds credentials.TransportCredentials) error {
	conn, err := grpc.Dial("unused", grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, addr.Network(), addr.String())
		}))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: "plugin"})
	return err
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
