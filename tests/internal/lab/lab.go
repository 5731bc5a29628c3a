// Package lab holds the checks of what a user of a running scalelab sees
// (replicas in turn, cache, sessions, edges, Prometheus), written once so
// that every way of deploying the lab (compose, swarm) is held to the same
// claims. Each check takes the endpoints of the deployment it examines.
package lab

import (
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// Endpoints are the host URLs (scheme://host:port, no path) of a deployment.
type Endpoints struct {
	LB, L4, EdgeSydney, EdgeNewYork, Prometheus string
}

// Local returns the endpoints on 127.0.0.1 for the given host ports.
func Local(lb, l4, sydney, newyork, prometheus int) Endpoints {
	u := func(p int) string { return "http://127.0.0.1:" + strconv.Itoa(p) }
	return Endpoints{u(lb), u(l4), u(sydney), u(newyork), u(prometheus)}
}

// Answer is one HTTP exchange as a check sees it.
type Answer struct {
	Status int
	Header http.Header
	Body   string
	Took   time.Duration
}

// Client is shared by the checks: one kept-alive connection per host, so
// sequential requests through the lb reach one lb and see its round robin.
var Client = &http.Client{Timeout: 10 * time.Second}

// Get fetches u and fails the test when no answer comes.
func Get(t testing.TB, u string) Answer {
	t.Helper()
	a, err := TryGet(Client, u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return a
}

// TryGet fetches u with c and returns the error instead of failing.
func TryGet(c *http.Client, u string) (Answer, error) {
	start := time.Now()
	resp, err := c.Get(u)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Answer{}, err
	}
	return Answer{resp.StatusCode, resp.Header, string(body), time.Since(start)}, nil
}
