package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"scalelab/services/platform/platformtest"
)

const adminToken = "s3cret-admin-token"

// adminDo sends an admin API request with the given bearer token ("" for
// no Authorization header) and returns the status and body.
func adminDo(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// Without LB_ADMIN_TOKEN the API is off: 403 naming the variable, for
// every route, even with some token sent.
func TestAdminAPIOffWithoutToken(t *testing.T) {
	b := namedBackend(t, "b")
	lb := startLB(t, map[string]string{"LB_BACKENDS": b.URL})
	addr := strings.TrimPrefix(b.URL, "http://")
	for _, r := range []struct{ method, path, token string }{
		{"GET", "/lb/backends", ""},
		{"GET", "/lb/backends", "anything"},
		{"POST", "/lb/backends/" + addr + "/drain", "anything"},
	} {
		code, body := adminDo(t, r.method, lb.AdminURL+r.path, r.token)
		if code != http.StatusForbidden || !strings.Contains(body, "LB_ADMIN_TOKEN is not set") {
			t.Errorf("%s %s: %d %s, want 403 saying LB_ADMIN_TOKEN is not set", r.method, r.path, code, body)
		}
	}
	// The drain above was refused: b still serves.
	if resp, body := get(t, lb.URL+"/", nil); resp.StatusCode != http.StatusOK || body != "b" {
		t.Errorf("after a refused drain: %d %q, want b to serve", resp.StatusCode, body)
	}
}

// Nothing under /lb/ answers without the right token: not the listing,
// not drain, not a path that does not exist.
func TestAdminAPINeedsToken(t *testing.T) {
	b := namedBackend(t, "b")
	lb := startLB(t, map[string]string{"LB_BACKENDS": b.URL, "LB_ADMIN_TOKEN": adminToken})
	addr := strings.TrimPrefix(b.URL, "http://")
	for _, r := range []struct{ method, path, token string }{
		{"GET", "/lb/backends", ""},
		{"GET", "/lb/backends", "wrong"},
		{"GET", "/lb/backends", adminToken + "x"},
		{"GET", "/lb/backends", adminToken[:len(adminToken)-1]},
		{"POST", "/lb/backends/" + addr + "/drain", ""},
		{"POST", "/lb/backends/" + addr + "/undrain", "wrong"},
		{"GET", "/lb/no-such-route", ""},
	} {
		code, body := adminDo(t, r.method, lb.AdminURL+r.path, r.token)
		if code != http.StatusUnauthorized {
			t.Errorf("%s %s with token %q: %d %s, want 401", r.method, r.path, r.token, code, body)
		}
	}
	// A token in another scheme is no bearer token.
	req, _ := http.NewRequest("GET", lb.AdminURL+"/lb/backends", nil)
	req.Header.Set("Authorization", "Basic "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("Basic auth with the token: %d, want 401", resp.StatusCode)
	}
	if resp, body := get(t, lb.URL+"/", nil); resp.StatusCode != http.StatusOK || body != "b" {
		t.Errorf("after refused admin calls: %d %q, want b to serve", resp.StatusCode, body)
	}
	// With the token, the listing answers.
	if code, body := adminDo(t, "GET", lb.AdminURL+"/lb/backends", adminToken); code != http.StatusOK {
		t.Errorf("with the token: %d %s, want 200", code, body)
	}
}

type listingJSON struct {
	Pools []struct {
		Name     string `json:"name"`
		Policy   string `json:"policy"`
		Backends []struct {
			Address      string            `json:"address"`
			Weight       int               `json:"weight"`
			State        string            `json:"state"`
			Drained      bool              `json:"drained"`
			EjectedUntil *time.Time        `json:"ejected_until"`
			InFlight     int64             `json:"in_flight"`
			Requests     map[string]uint64 `json:"requests"`
			Retries      uint64            `json:"retries"`
			Ejections    int               `json:"ejections"`
		} `json:"backends"`
	} `json:"pools"`
}

func listing(t *testing.T, adminURL string) listingJSON {
	t.Helper()
	code, body := adminDo(t, "GET", adminURL+"/lb/backends", adminToken)
	if code != http.StatusOK {
		t.Fatalf("GET /lb/backends: %d %s", code, body)
	}
	var l listingJSON
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatalf("GET /lb/backends: %v in %s", err, body)
	}
	return l
}

// The listing shows each backend with its weight, state and counters.
func TestAdminAPIListsBackends(t *testing.T) {
	a, b := namedBackend(t, "a"), namedBackend(t, "b")
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	lb := startLB(t, map[string]string{
		"LB_BACKENDS":    a.URL + " weight=3," + b.URL + "," + dead.URL,
		"LB_POLICY":      "weighted_round_robin",
		"LB_ADMIN_TOKEN": adminToken,
		"LB_HEALTH_PATH": "off",
		"LB_EJECT_AFTER": "1",
	})
	for range 10 {
		get(t, lb.URL+"/", nil)
	}
	l := listing(t, lb.AdminURL)
	if len(l.Pools) != 1 || l.Pools[0].Name != "default" || l.Pools[0].Policy != "weighted_round_robin" {
		t.Fatalf("pools %+v, want one default pool with weighted_round_robin", l.Pools)
	}
	got := map[string]int{}
	for i, be := range l.Pools[0].Backends {
		got[be.Address] = i
	}
	bes := l.Pools[0].Backends
	aa, ba, da := strings.TrimPrefix(a.URL, "http://"), strings.TrimPrefix(b.URL, "http://"), strings.TrimPrefix(dead.URL, "http://")
	if len(bes) != 3 {
		t.Fatalf("backends %+v, want 3", bes)
	}
	if be := bes[got[aa]]; be.Address != aa || be.Weight != 3 || be.State != "available" || be.Requests["2xx"] == 0 {
		t.Errorf("a: %+v, want weight 3, available, some 2xx", be)
	}
	if be := bes[got[ba]]; be.Address != ba || be.Weight != 1 || be.Requests["2xx"] == 0 {
		t.Errorf("b: %+v, want weight 1, some 2xx", be)
	}
	// The dead backend failed once: retried elsewhere, and ejected.
	be := bes[got[da]]
	if be.Address != da || be.State != "ejected" || be.Ejections != 1 || be.Retries != 1 || be.Requests["5xx"] != 1 || be.EjectedUntil == nil {
		t.Errorf("dead: %+v, want ejected once with an end time, one 5xx try, one retry", be)
	}
}

// Drain: a drained backend gets no new requests (L7) nor connections
// (L4), a request already on it finishes, and undrain brings it back.
func TestAdminDrainAndUndrain(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-By", "a")
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			<-release
		}
		io.WriteString(w, "a")
	}))
	t.Cleanup(slow.Close)
	b := namedBackend(t, "b")
	l4Addr := platformtest.FreeAddr(t)
	lb := startLB(t, map[string]string{
		"LB_BACKENDS":    slow.URL + "," + b.URL,
		"LB_ADMIN_TOKEN": adminToken,
		"L4_LISTEN_ADDR": l4Addr,
	})
	aAddr := strings.TrimPrefix(slow.URL, "http://")

	// A request in flight on a.
	inflight := make(chan string, 1)
	go func() {
		for {
			resp, err := http.Get(lb.URL + "/slow")
			if err != nil {
				inflight <- err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) == "a" || resp.StatusCode != http.StatusOK {
				inflight <- fmt.Sprintf("%d %s", resp.StatusCode, body)
				return
			}
			// b answered (round robin); ask again to reach a.
		}
	}()
	<-arrived

	if code, body := adminDo(t, "POST", lb.AdminURL+"/lb/backends/"+aAddr+"/drain", adminToken); code != http.StatusOK {
		t.Fatalf("drain: %d %s", code, body)
	}
	for i := range 10 {
		if resp, body := get(t, lb.URL+"/", nil); body != "b" {
			t.Fatalf("L7 request %d after drain: %d %q, want b", i, resp.StatusCode, body)
		}
		if by := l4Get(t, l4Addr); by != "b" {
			t.Fatalf("L4 connection %d after drain served by %q, want b", i, by)
		}
	}
	if bes := listing(t, lb.AdminURL).Pools[0].Backends; bes[0].State != "drained" || !bes[0].Drained || bes[0].InFlight != 1 {
		t.Errorf("listing of the drained backend %+v, want drained with its 1 request in flight", bes[0])
	}
	close(release)
	if got := <-inflight; got != "200 a" {
		t.Errorf("the request in flight on the drained backend ended %q, want 200 a", got)
	}

	if code, body := adminDo(t, "POST", lb.AdminURL+"/lb/backends/"+aAddr+"/undrain", adminToken); code != http.StatusOK {
		t.Fatalf("undrain: %d %s", code, body)
	}
	servedL7, servedL4 := false, false
	for range 4 {
		if _, body := get(t, lb.URL+"/", nil); body == "a" {
			servedL7 = true
		}
		if l4Get(t, l4Addr) == "a" {
			servedL4 = true
		}
	}
	if !servedL7 || !servedL4 {
		t.Errorf("after undrain a served L7 %v, L4 %v; want both", servedL7, servedL4)
	}

	if code, body := adminDo(t, "POST", lb.AdminURL+"/lb/backends/10.9.9.9:1/drain", adminToken); code != http.StatusNotFound {
		t.Errorf("drain of an unknown backend: %d %s, want 404", code, body)
	}
	if code, _ := adminDo(t, "GET", lb.AdminURL+"/lb/backends/"+aAddr+"/drain", adminToken); code != http.StatusMethodNotAllowed {
		t.Errorf("GET on drain: %d, want 405", code)
	}
}

// l4Get sends one request over a new L4 connection and returns X-Served-By.
func l4Get(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("X-Served-By")
}

// With every backend drained, requests get a 503 that says so (not even
// panic mode sends them to a drained backend).
func TestAllDrained(t *testing.T) {
	b := namedBackend(t, "b")
	lb := startLB(t, map[string]string{"LB_BACKENDS": b.URL, "LB_ADMIN_TOKEN": adminToken})
	addr := strings.TrimPrefix(b.URL, "http://")
	if code, body := adminDo(t, "POST", lb.AdminURL+"/lb/backends/"+addr+"/drain", adminToken); code != http.StatusOK {
		t.Fatalf("drain: %d %s", code, body)
	}
	if resp, body := get(t, lb.URL+"/", nil); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "no backend available") {
		t.Errorf("all drained: %d %q, want 503 saying no backend is available", resp.StatusCode, body)
	}
	adminDo(t, "POST", lb.AdminURL+"/lb/backends/"+addr+"/undrain", adminToken)
	if resp, body := get(t, lb.URL+"/", nil); resp.StatusCode != http.StatusOK || body != "b" {
		t.Errorf("undrained: %d %q, want b", resp.StatusCode, body)
	}
}
