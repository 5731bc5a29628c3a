package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"time"

	"scalelab/services/platform"
)

// tlsSettings is the optional HTTPS listener.
type tlsSettings struct {
	ListenAddr string   // LB_TLS_LISTEN_ADDR; "" turns HTTPS off
	CertFile   string   // LB_TLS_CERT_FILE
	KeyFile    string   // LB_TLS_KEY_FILE
	Hosts      []string // LB_TLS_HOSTS: names of the generated certificate, beyond localhost
}

func loadTLSSettings(env *platform.Env) tlsSettings {
	s := tlsSettings{
		ListenAddr: env.String("LB_TLS_LISTEN_ADDR", ""),
		CertFile:   env.String("LB_TLS_CERT_FILE", ""),
		KeyFile:    env.String("LB_TLS_KEY_FILE", ""),
		Hosts:      platform.SplitList(env.String("LB_TLS_HOSTS", "")),
	}
	if s.ListenAddr != "" {
		s.ListenAddr = env.Addr("LB_TLS_LISTEN_ADDR", "")
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		env.Fail("LB_TLS_CERT_FILE", errors.New("LB_TLS_CERT_FILE and LB_TLS_KEY_FILE go together: set both, or neither for a self-signed certificate"))
	}
	return s
}

// certificate loads the configured pair, or makes a self-signed one.
func (s tlsSettings) certificate(logger *slog.Logger) (tls.Certificate, error) {
	if s.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return cert, fmt.Errorf("LB_TLS_CERT_FILE, LB_TLS_KEY_FILE: %w", err)
		}
		return cert, nil
	}
	cert, err := selfSigned(s.Hosts, time.Now())
	if err == nil {
		logger.Info("https: using a self-signed certificate made at start (set LB_TLS_CERT_FILE and LB_TLS_KEY_FILE for a real one)",
			"names", append([]string{"localhost", "127.0.0.1", "::1"}, s.Hosts...))
	}
	return cert, err
}

// selfSigned makes an ECDSA P-256 certificate for localhost, 127.0.0.1, ::1
// and hosts (names or addresses), valid for a year from now: enough for a
// lab, where curl -k or the certificate taken from the handshake trusts it.
func selfSigned(hosts []string, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"scalelab"}, CommonName: "scalelab-lb"},
		NotBefore:             now.Add(-time.Hour), // tolerate a clock a little behind
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // its own issuer, so a client can trust it as a root
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// addTLS serves handler over HTTPS on LB_TLS_LISTEN_ADDR when it is set,
// beside the plain listener: TLS ends here, clients get HTTP/2 when they
// offer it (ALPN) and HTTP/1.1 otherwise, and backends get HTTP/1.1 on the
// same keep-alive pool as plain requests. The server has the platform
// traffic server's limits, and drains as it does.
func (ls *listeners) addTLS(s tlsSettings, handler http.Handler) error {
	if s.ListenAddr == "" {
		return nil
	}
	svc := ls.svc
	cert, err := s.certificate(svc.Logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.ListenAddr)
	if err != nil {
		return fmt.Errorf("LB_TLS_LISTEN_ADDR: %w", err)
	}
	srv := platform.DefaultLimits().Apply(&http.Server{
		Handler: platform.WithRequestID(handler),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"h2", "http/1.1"},
		},
		ErrorLog: slog.NewLogLogger(svc.Logger.Handler(), slog.LevelWarn),
	})
	svc.Logger.Info("https listening", "addr", ln.Addr().String())
	ls.add("https", ln, httpsServer{srv, svc.Base.ShutdownTimeout})
	return nil
}

// httpsServer is net/http's server over TLS as a platform.Server: when its
// context ends, what is in flight gets shutdownTimeout to finish.
type httpsServer struct {
	srv             *http.Server
	shutdownTimeout time.Duration
}

func (h httpsServer) Serve(ctx context.Context, ln net.Listener) error {
	drained := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(drained)
		sctx, cancel := context.WithTimeout(context.Background(), h.shutdownTimeout)
		defer cancel()
		if err := h.srv.Shutdown(sctx); err != nil {
			h.srv.Close()
		}
	})
	err := h.srv.ServeTLS(ln, "", "")
	if !errors.Is(err, http.ErrServerClosed) {
		if stop() {
			ln.Close()
		} else {
			<-drained
		}
		return err
	}
	<-drained
	return nil
}
