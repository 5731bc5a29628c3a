package httpcache

import (
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"testing"
)

// withInterim sends method url and returns the final response and the
// interim responses seen before it.
func withInterim(t *testing.T, method, url string) (*http.Response, []int, []http.Header) {
	t.Helper()
	var codes []int
	var headers []http.Header
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		codes = append(codes, code)
		headers = append(headers, http.Header(h).Clone())
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, codes, headers
}

// earlyHints is an origin that sends 103 Early Hints before its answer.
func earlyHints(t *testing.T) *origin {
	return newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</styles.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		fixed("max-age=3600", "page")(w, r)
	})
}

// RFC 9110 section 15.2, RFC 9111 section 3: an origin's 103 Early Hints
// goes on to the client that fetched, and is never stored: the hit after
// it has no interim response, and the final answer does not carry the
// hints' fields.
func TestInterimResponsesAreForwardedNeverStored(t *testing.T) {
	e := newEdge(t, earlyHints(t).URL)
	resp, codes, headers := withInterim(t, http.MethodGet, e.URL+"/page")
	if len(codes) != 1 || codes[0] != http.StatusEarlyHints {
		t.Fatalf("miss: interim responses %v, want [103]", codes)
	}
	if got := headers[0].Get("Link"); got != "</styles.css>; rel=preload; as=style" {
		t.Errorf("103 Link = %q", got)
	}
	if resp.StatusCode != 200 || resp.Header.Get("X-Cache") != "MISS" || resp.Header.Get("Link") != "" {
		t.Errorf("miss: %d %s, Link %q; want 200 MISS, no Link", resp.StatusCode, resp.Header.Get("X-Cache"), resp.Header.Get("Link"))
	}
	resp, codes, _ = withInterim(t, http.MethodGet, e.URL+"/page")
	if len(codes) != 0 || resp.Header.Get("X-Cache") != "HIT" {
		t.Errorf("hit: interim responses %v, X-Cache %q; want none, HIT", codes, resp.Header.Get("X-Cache"))
	}
}

// A request passed through (a POST) gets the origin's 103 too.
func TestInterimResponsesOfAPassThrough(t *testing.T) {
	e := newEdge(t, earlyHints(t).URL)
	resp, codes, _ := withInterim(t, http.MethodPost, e.URL+"/form")
	if len(codes) != 1 || codes[0] != http.StatusEarlyHints || resp.StatusCode != 200 || resp.Header.Get("X-Cache") != "BYPASS" {
		t.Errorf("POST: interim %v, final %d %s; want [103], 200 BYPASS", codes, resp.StatusCode, resp.Header.Get("X-Cache"))
	}
}
