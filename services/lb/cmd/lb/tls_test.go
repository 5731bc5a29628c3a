package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"scalelab/services/platform/platformtest"
)

// protoBackend answers with the protocol and X-Forwarded-Proto it received.
func protoBackend(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto+" "+r.Header.Get("X-Forwarded-Proto"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// peerCert takes the certificate the lb presents from a handshake; the
// test trusts it afterwards, as a user would after checking it.
func peerCert(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// httpsClient trusts cert only; h2 says whether it offers HTTP/2.
func httpsClient(t *testing.T, cert *x509.Certificate, h2 bool) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

func TestHTTPSSelfSignedWithHTTP2(t *testing.T) {
	backend := protoBackend(t)
	tlsAddr := platformtest.FreeAddr(t)
	lb := startLB(t, map[string]string{
		"LB_BACKENDS":        backend.URL,
		"LB_TLS_LISTEN_ADDR": tlsAddr,
		"LB_TLS_HOSTS":       "lb.lab, 10.1.2.3",
	})
	cert := peerCert(t, tlsAddr)
	for _, name := range []string{"localhost", "lb.lab", "127.0.0.1", "10.1.2.3"} {
		if err := cert.VerifyHostname(name); err != nil {
			t.Errorf("generated certificate: %v", err)
		}
	}
	if k, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("generated certificate key %T, want ECDSA P-256", cert.PublicKey)
	}

	for _, tt := range []struct {
		h2        bool
		wantProto string
	}{{true, "HTTP/2.0"}, {false, "HTTP/1.1"}} {
		// The client verifies the certificate against the name it dials.
		resp, err := httpsClient(t, cert, tt.h2).Get("https://" + tlsAddr + "/x")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Proto != tt.wantProto {
			t.Errorf("client offering h2=%v: %d over %s, want 200 over %s", tt.h2, resp.StatusCode, resp.Proto, tt.wantProto)
		}
		// Backends get HTTP/1.1 whatever the client spoke, and learn the
		// client came over https.
		if string(body) != "HTTP/1.1 https" {
			t.Errorf("client offering h2=%v: the backend saw %q, want HTTP/1.1 with X-Forwarded-Proto https", tt.h2, body)
		}
		if resp.Header.Get("X-Request-Id") == "" || resp.Header.Get("X-Backend") == "" {
			t.Errorf("client offering h2=%v: headers %v, want X-Request-Id and X-Backend as on plain HTTP", tt.h2, resp.Header)
		}
	}
	// The plain listener is still there, and says http.
	if resp, body := get(t, lb.URL+"/", nil); resp.StatusCode != http.StatusOK || body != "HTTP/1.1 http" {
		t.Errorf("plain HTTP alongside: %d %q", resp.StatusCode, body)
	}
	if err := lb.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if c, err := net.Dial("tcp", tlsAddr); err == nil {
		c.Close()
		t.Errorf("HTTPS listener still accepts after the lb stopped")
	}
}

func TestHTTPSCertificateFromFiles(t *testing.T) {
	made, err := selfSigned([]string{"files.lab"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	keyDER, err := x509.MarshalPKCS8PrivateKey(made.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: made.Certificate[0]}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)

	tlsAddr := platformtest.FreeAddr(t)
	startLB(t, map[string]string{
		"LB_BACKENDS":        protoBackend(t).URL,
		"LB_TLS_LISTEN_ADDR": tlsAddr,
		"LB_TLS_CERT_FILE":   certFile,
		"LB_TLS_KEY_FILE":    keyFile,
	})
	cert := peerCert(t, tlsAddr)
	if !slices.Equal(cert.Raw, made.Certificate[0]) {
		t.Fatalf("the lb presents %v, want the certificate from LB_TLS_CERT_FILE", cert.DNSNames)
	}
	resp, err := httpsClient(t, cert, true).Get("https://" + tlsAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Proto != "HTTP/2.0" {
		t.Errorf("proto %s, want HTTP/2.0", resp.Proto)
	}
}

func TestHTTPSConfigErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.pem")
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"cert without key", map[string]string{"LB_TLS_LISTEN_ADDR": "127.0.0.1:0", "LB_TLS_CERT_FILE": missing}, "LB_TLS_CERT_FILE"},
		{"key without cert", map[string]string{"LB_TLS_LISTEN_ADDR": "127.0.0.1:0", "LB_TLS_KEY_FILE": missing}, "LB_TLS_CERT_FILE"},
		{"unreadable files", map[string]string{"LB_TLS_LISTEN_ADDR": "127.0.0.1:0", "LB_TLS_CERT_FILE": missing, "LB_TLS_KEY_FILE": missing}, "LB_TLS_CERT_FILE"},
		{"bad address", map[string]string{"LB_TLS_LISTEN_ADDR": "8443"}, "LB_TLS_LISTEN_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["LB_BACKENDS"] = "http://127.0.0.1:1"
			tt.env["LISTEN_ADDR"], tt.env["ADMIN_ADDR"] = "127.0.0.1:0", "127.0.0.1:0"
			err := run(t.Context(), []string{"lb"}, func(k string) string { return tt.env[k] }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}
