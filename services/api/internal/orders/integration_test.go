//go:build containers

package orders

// Integration tests against a real PostgreSQL in a container
// (testcontainers-go), standing for pg-orders.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"scalelab/services/api/internal/containertest"
)

// startOrdersDB starts one PostgreSQL with an empty orders database and
// returns its DSN once it accepts connections.
func startOrdersDB(t *testing.T) string {
	return containertest.StartPostgres(t, "orders").DSN("orders")
}

var connectRetry = containertest.Connect

type listBody struct {
	UserID int64   `json:"user_id"`
	Orders []Order `json:"orders"`
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q: %s", ct, r.body)
	}
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return v
}

func TestOrdersWithPostgres(t *testing.T) {
	dsn := startOrdersDB(t)
	ctx := context.Background()
	st, err := Open(dsn, Options{MaxConns: 4, QueryTimeout: 2 * time.Second}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for range 2 { // idempotent: every replica applies it at every start
		if err := st.Migrate(ctx); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	h := NewHandler(st, &counterIDs{}, usersBelow(1000), parseID, quietLogger())
	mux := routes(h)

	t.Run("create then get", func(t *testing.T) {
		r := serve(t, mux, http.MethodPost, "/users/7/orders", `{"item":" book ","quantity":2,"amount_cents":1299}`)
		if r.status != http.StatusCreated {
			t.Fatalf("POST = %d %s", r.status, r.body)
		}
		o := decode[Order](t, r)
		if o.ID <= 0 || o.UserID != 7 || o.Item != "book" || o.Quantity != 2 || o.AmountCents != 1299 || o.CreatedAt.IsZero() {
			t.Fatalf("created %+v", o)
		}
		loc := r.header.Get("Location")
		if want := "/users/7/orders/" + strconv.FormatInt(o.ID, 10); loc != want {
			t.Fatalf("Location = %q, want %q", loc, want)
		}
		r = serve(t, mux, http.MethodGet, loc, "")
		if r.status != http.StatusOK {
			t.Fatalf("GET %s = %d %s", loc, r.status, r.body)
		}
		if got := decode[Order](t, r); !got.CreatedAt.Equal(o.CreatedAt) || got.ID != o.ID || got.Item != o.Item {
			t.Errorf("GET %s = %+v, created %+v", loc, got, o)
		}
		// Another user's path does not reach this order.
		problem(t, serve(t, mux, http.MethodGet, "/users/8/orders/"+strconv.FormatInt(o.ID, 10), ""), http.StatusNotFound)
	})

	t.Run("list newest first with a limit", func(t *testing.T) {
		var created []Order
		for i := range 5 {
			r := serve(t, mux, http.MethodPost, "/users/42/orders",
				fmt.Sprintf(`{"item":"item %d","quantity":%d,"amount_cents":%d}`, i, i+1, 100*i))
			if r.status != http.StatusCreated {
				t.Fatalf("POST %d = %d %s", i, r.status, r.body)
			}
			created = append(created, decode[Order](t, r))
		}
		serve(t, mux, http.MethodPost, "/users/43/orders", `{"item":"not 42's","quantity":1,"amount_cents":1}`)

		r := serve(t, mux, http.MethodGet, "/users/42/orders?limit=3", "")
		if r.status != http.StatusOK {
			t.Fatalf("GET = %d %s", r.status, r.body)
		}
		got := decode[listBody](t, r)
		if got.UserID != 42 || len(got.Orders) != 3 {
			t.Fatalf("list = %+v", got)
		}
		for i, o := range got.Orders {
			if want := created[4-i]; o.ID != want.ID || o.Item != want.Item || o.UserID != 42 {
				t.Errorf("orders[%d] = %+v, want %+v", i, o, want)
			}
		}
		got = decode[listBody](t, serve(t, mux, http.MethodGet, "/users/42/orders", ""))
		if len(got.Orders) != 5 {
			t.Errorf("default limit listed %d of 5 orders", len(got.Orders))
		}
		fromForUser, err := h.ForUser(ctx, 42, 2)
		if err != nil || len(fromForUser) != 2 || fromForUser[0].ID != created[4].ID || fromForUser[1].ID != created[3].ID {
			t.Errorf("ForUser = %+v, %v", fromForUser, err)
		}
	})

	t.Run("a user without orders lists none, not null", func(t *testing.T) {
		r := serve(t, mux, http.MethodGet, "/users/99/orders", "")
		if r.status != http.StatusOK || !strings.Contains(r.body, `"orders":[]`) {
			t.Fatalf("GET = %d %s", r.status, r.body)
		}
		list, err := h.ForUser(ctx, 99, 10)
		if err != nil || list == nil || len(list) != 0 {
			t.Errorf("ForUser = %#v, %v", list, err)
		}
	})

	t.Run("unknown user is 404 and stores nothing", func(t *testing.T) {
		r := serve(t, mux, http.MethodPost, "/users/5000/orders", `{"item":"book","quantity":1,"amount_cents":1}`)
		if detail := problem(t, r, http.StatusNotFound); !strings.Contains(detail, "5000") {
			t.Errorf("detail %q", detail)
		}
		problem(t, serve(t, mux, http.MethodGet, "/users/5000/orders", ""), http.StatusNotFound)
		conn := connectRetry(t, dsn)
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM orders WHERE user_id = 5000").Scan(&n); err != nil || n != 0 {
			t.Errorf("orders of user 5000: %d, %v", n, err)
		}
	})

	t.Run("bad requests are 400 or 413", func(t *testing.T) {
		for _, tc := range []struct {
			method, target, body string
			want                 int
		}{
			{http.MethodPost, "/users/7/orders", `{"item":"book","quantity":0,"amount_cents":1}`, 400},
			{http.MethodPost, "/users/7/orders", `{"item":"book","quantity":1}`, 400},
			{http.MethodPost, "/users/7/orders", `{"item":"book","quantity":1,"amount_cents":1,"user_id":8}`, 400},
			{http.MethodPost, "/users/7/orders", `not json`, 400},
			{http.MethodPost, "/users/7/orders", `{"item":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, 413},
			{http.MethodPost, "/users/007/orders", `{"item":"book","quantity":1,"amount_cents":1}`, 400},
			{http.MethodPost, "/users/abc/orders", `{"item":"book","quantity":1,"amount_cents":1}`, 400},
			{http.MethodGet, "/users/0/orders", "", 400},
			{http.MethodGet, "/users/7/orders?limit=0", "", 400},
			{http.MethodGet, "/users/7/orders?limit=101", "", 400},
			{http.MethodGet, "/users/7/orders?limit=x", "", 400},
			{http.MethodGet, "/users/7/orders/x", "", 400},
		} {
			problem(t, serve(t, mux, tc.method, tc.target, tc.body), tc.want)
		}
	})

	t.Run("the server's checks are not unavailability", func(t *testing.T) {
		// Past the handler's validation the table still refuses bad rows;
		// that is a 500 (a bug), never a 503 (the server is fine).
		_, err := st.Create(ctx, Order{ID: 1 << 40, UserID: 7, Item: "x", Quantity: 0, AmountCents: 1})
		if err == nil || errors.Is(err, ErrUnavailable) {
			t.Errorf("check violation: %v", err)
		}
		o, err := st.Create(ctx, Order{ID: 1<<40 + 1, UserID: 7, Item: "x", Quantity: 1, AmountCents: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Create(ctx, o); err == nil || errors.Is(err, ErrUnavailable) {
			t.Errorf("duplicate id: %v", err)
		}
		if _, err := st.ListByUser(ctx, 7, 0); err == nil || errors.Is(err, ErrUnavailable) {
			t.Errorf("limit 0: %v", err)
		}
	})

	t.Run("metrics count the queries", func(t *testing.T) {
		if got := testutil.ToFloat64(st.queries.WithLabelValues("create", "ok")); got < 7 {
			t.Errorf("create ok = %v, want at least 7", got)
		}
		if got := testutil.ToFloat64(st.queries.WithLabelValues("get", "not_found")); got != 1 {
			t.Errorf("get not_found = %v, want 1", got)
		}
		if got := testutil.ToFloat64(st.queries.WithLabelValues("list", "error")); got != 0 {
			t.Errorf("list error = %v, want 0", got)
		}
	})
}
