package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// parseID stands in for users.ParseID, which the api passes.
func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 || strconv.FormatInt(id, 10) != s {
		return 0, fmt.Errorf("id %q must be a positive decimal integer", s)
	}
	return id, nil
}

// counterIDs mints increasing ids, as idgen does.
type counterIDs struct{ n atomic.Int64 }

func (c *counterIDs) Next() (int64, error) { return c.n.Add(1), nil }

// usersBelow pretends that users 1..n-1 exist.
func usersBelow(n int64) func(context.Context, int64) (bool, error) {
	return func(_ context.Context, id int64) (bool, error) { return id < n, nil }
}

// routes mirrors how the api mounts the handler.
func routes(h *Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /users/{id}/orders", h.Create)
	mux.HandleFunc("GET /users/{id}/orders", h.List)
	mux.HandleFunc("GET /users/{id}/orders/{orderID}", h.Get)
	return mux
}

type response struct {
	status int
	header http.Header
	body   string
}

// serve runs one request through h, failing the test if it never returns.
func serve(t *testing.T, h http.Handler, method, target, body string) response {
	t.Helper()
	done := make(chan response, 1)
	go func() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, target, strings.NewReader(body)))
		done <- response{w.Code, w.Header(), w.Body.String()}
	}()
	select {
	case r := <-done:
		return r
	case <-time.After(time.Minute):
		t.Fatalf("%s %s did not return", method, target)
		return response{}
	}
}

// problem decodes a problem+json answer, checking its shape.
func problem(t *testing.T, r response, wantStatus int) string {
	t.Helper()
	if r.status != wantStatus {
		t.Fatalf("status = %d, want %d: %s", r.status, wantStatus, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal([]byte(r.body), &p); err != nil || p.Status != wantStatus || p.Detail == "" {
		t.Fatalf("problem body %q (%v)", r.body, err)
	}
	return p.Detail
}

// closedPortDSN points at a port on which nothing listens.
func closedPortDSN(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return fmt.Sprintf("postgres://postgres:test@127.0.0.1:%d/orders?sslmode=disable", port)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The orders server is down, the users' shards are fine: orders requests
// answer 503 at once, naming the orders database, and nothing hangs.
func TestOrdersDatabaseDown(t *testing.T) {
	reg := prometheus.NewRegistry()
	st, err := Open(closedPortDSN(t), Options{MaxConns: 2, QueryTimeout: 500 * time.Millisecond}, reg)
	if err != nil {
		t.Fatalf("Open must not dial: %v", err)
	}
	defer st.Close()
	h := NewHandler(st, &counterIDs{}, usersBelow(100), parseID, quietLogger())
	mux := routes(h)

	for _, tc := range []struct{ method, target, body string }{
		{http.MethodPost, "/users/7/orders", `{"item":"book","quantity":2,"amount_cents":1299}`},
		{http.MethodGet, "/users/7/orders", ""},
		{http.MethodGet, "/users/7/orders/1", ""},
	} {
		r := serve(t, mux, tc.method, tc.target, tc.body)
		if detail := problem(t, r, http.StatusServiceUnavailable); detail != "orders database unavailable" {
			t.Errorf("%s %s: detail %q", tc.method, tc.target, detail)
		}
	}
	if _, err := h.ForUser(context.Background(), 7, 10); !errors.Is(err, ErrUnavailable) {
		t.Errorf("ForUser error = %v, want ErrUnavailable", err)
	}
	if err := st.Ping(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ping error = %v, want ErrUnavailable", err)
	}
	if got := testutil.ToFloat64(st.queries.WithLabelValues("create", "error")); got != 1 {
		t.Errorf("create errors counted = %v, want 1", got)
	}
	if got := testutil.ToFloat64(st.queries.WithLabelValues("list", "error")); got != 2 {
		t.Errorf("list errors counted = %v, want 2 (List and ForUser)", got)
	}
	if n, err := testutil.GatherAndCount(reg, "scalelab_api_orders_queries_total", "scalelab_api_orders_query_duration_seconds"); err != nil || n == 0 {
		t.Errorf("metrics not registered: %d, %v", n, err)
	}
}

// The user's shard is down: the 503 says so (through userExists's error),
// and the orders server is not even asked.
func TestUserCheckFails(t *testing.T) {
	st, err := Open(closedPortDSN(t), Options{MaxConns: 2, QueryTimeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	shardDown := func(context.Context, int64) (bool, error) { return false, errors.New("shard 2 is unavailable") }
	mux := routes(NewHandler(st, &counterIDs{}, shardDown, parseID, quietLogger()))

	r := serve(t, mux, http.MethodPost, "/users/7/orders", `{"item":"book","quantity":1,"amount_cents":1}`)
	if detail := problem(t, r, http.StatusServiceUnavailable); !strings.Contains(detail, "shard 2 is unavailable") {
		t.Errorf("detail %q does not name the shard", detail)
	}
	if got := testutil.ToFloat64(st.queries.WithLabelValues("create", "error")); got != 0 {
		t.Errorf("the orders server was asked (%v create errors) although the user check failed", got)
	}
}

// A client that hangs up while its user is checked gets no answer (499 in
// the metrics), and the handler logs no failure.
func TestClientGone(t *testing.T) {
	st, err := Open(closedPortDSN(t), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	check := func(ctx context.Context, _ int64) (bool, error) { <-ctx.Done(); return false, ctx.Err() }
	mux := routes(NewHandler(st, &counterIDs{}, check, parseID, quietLogger()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/users/7/orders",
		strings.NewReader(`{"item":"book","quantity":1,"amount_cents":1}`))
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	if w.Body.Len() != 0 {
		t.Errorf("answered a client that left: %d %s", w.Code, w.Body)
	}
}
