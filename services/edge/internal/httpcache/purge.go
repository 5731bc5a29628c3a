package httpcache

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"strings"

	"scalelab/services/platform"
)

// Purges remove a URL with every variant and every stale copy stored for
// it: all of them live in the one Object under its primary key. A fetch of
// a purged URL already under way when the purge runs does not store its
// answer (see purgeLog), so a purge cannot be undone by a fill that started
// before it.

// PurgeURL removes what is stored for one URL: a path with its query
// ("/logo.png?v=2"), or an absolute URL whose path and query are used. It
// returns how many URLs were removed (0 or 1).
func (c *Cache) PurgeURL(raw string) int {
	key, ok := purgeKey(raw)
	if !ok {
		return 0
	}
	return c.purge("url", []purgeScope{{url: key}}, func() []string { return []string{key} })
}

// PurgeKey removes every URL whose response carried the surrogate key in
// its Surrogate-Key header.
func (c *Cache) PurgeKey(key string) int {
	return c.purge("key", []purgeScope{{tag: key}}, func() []string { return c.store.KeysWithTag(key) })
}

// PurgePrefix removes every URL whose path and query start with prefix.
func (c *Cache) PurgePrefix(prefix string) int {
	return c.purge("prefix", []purgeScope{{prefix: prefix}}, func() []string { return c.store.KeysWithPrefix(prefix) })
}

// purge records the purge's scopes first, so that fetches under way of what
// they cover do not store, and only then finds and deletes the keys.
func (c *Cache) purge(how string, scopes []purgeScope, keys func() []string) int {
	c.purges.add(scopes...)
	n := 0
	for _, k := range keys() {
		if c.store.Delete(k) {
			n++
		}
	}
	c.metrics.purged.WithLabelValues(how).Add(float64(n))
	return n
}

// purgeKey turns a URL as an operator writes it into a primary key.
func purgeKey(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Path == "" && u.Host == "" {
		return "", false
	}
	if u.Path == "" {
		u.Path = "/"
	}
	if !strings.HasPrefix(u.Path, "/") {
		return "", false
	}
	return u.RequestURI(), true
}

// invalidate follows a successful unsafe request (RFC 9111 section 4.4):
// what is stored for its target URI is removed, and so is what is stored
// for its Location and Content-Location, when they name this same site.
func (c *Cache) invalidate(r *http.Request, resp *http.Response) {
	keys := []string{r.URL.RequestURI()}
	for _, name := range []string{"Location", "Content-Location"} {
		if k, ok := c.sameOriginKey(r, resp.Header.Get(name)); ok {
			keys = append(keys, k)
		}
	}
	scopes := make([]purgeScope, len(keys))
	for i, k := range keys {
		scopes[i] = purgeScope{url: k}
	}
	c.purge("invalidation", scopes, func() []string { return keys })
}

// sameOriginKey returns the primary key for a Location or Content-Location
// value, when it names the site the request was for (by the host the
// client used, or the origin's own) or is relative.
func (c *Cache) sameOriginKey(r *http.Request, loc string) (string, bool) {
	if loc == "" {
		return "", false
	}
	u, err := url.Parse(loc)
	if err != nil {
		return "", false
	}
	switch {
	case u.Host == "" && u.Scheme == "":
		return r.URL.ResolveReference(u).RequestURI(), true
	case strings.EqualFold(u.Host, r.Host):
		return u.RequestURI(), true
	case strings.EqualFold(u.Host, c.cfg.Origin.Host):
		// The origin's own URL: strip its path prefix, if any.
		p := u.RequestURI()
		prefix := trimSlash(c.cfg.Origin.Path)
		if prefix != "" {
			if !strings.HasPrefix(p, prefix+"/") {
				return "", false
			}
			p = strings.TrimPrefix(p, prefix)
		}
		return p, true
	}
	return "", false
}

// servePurge answers `PURGE /path` on the traffic port, as Varnish and
// nginx's cache_purge do. Only the loopback interface, or a client with
// the admin token (Authorization: Bearer EDGE_ADMIN_TOKEN), may purge:
// anyone else could empty the cache and send every request to the origin.
func (c *Cache) servePurge(w http.ResponseWriter, r *http.Request) {
	if !fromLoopback(r) && !c.tokenOK(r) {
		c.refuse(w, http.StatusForbidden, "edge: PURGE is allowed from loopback, or with Authorization: Bearer <EDGE_ADMIN_TOKEN>", cacheStatus{})
		return
	}
	key := r.URL.RequestURI()
	n := c.purge("url", []purgeScope{{url: key}}, func() []string { return []string{key} })
	c.cfg.Logger.Info("purged", "how", "PURGE", "url", r.URL.RequestURI(), "objects", n)
	platform.WriteJSON(w, http.StatusOK, map[string]any{"purged": n})
}

func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tokenOK reports whether the request carries the admin token. With no
// token configured, none does.
func (c *Cache) tokenOK(r *http.Request) bool {
	if c.cfg.AdminToken == "" {
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(c.cfg.AdminToken)) == 1
}

// PurgeHandler is the admin API, for the admin listener:
//
//	POST /cache/purge?url=/logo.png&key=product-42&prefix=/img/
//	Authorization: Bearer <EDGE_ADMIN_TOKEN>
//
// Each of url, key (a surrogate key) and prefix may repeat; the answer
// counts the URLs removed by each. With no EDGE_ADMIN_TOKEN configured the
// API is disabled (403).
func (c *Cache) PurgeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if c.cfg.AdminToken == "" {
			platform.WriteJSON(w, http.StatusForbidden, map[string]string{"error": "admin purge is disabled: set EDGE_ADMIN_TOKEN"})
			return
		}
		if !c.tokenOK(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="edge admin"`)
			platform.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token"})
			return
		}
		q := r.URL.Query()
		if len(q["url"])+len(q["key"])+len(q["prefix"]) == 0 {
			platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "name what to purge: url=, key= or prefix= (each may repeat)"})
			return
		}
		counts := map[string]int{"url": 0, "key": 0, "prefix": 0}
		for _, u := range q["url"] {
			if _, ok := purgeKey(u); !ok {
				platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "url must be a path (/a?b) or an absolute URL: " + u})
				return
			}
		}
		for _, u := range q["url"] {
			counts["url"] += c.PurgeURL(u)
		}
		for _, k := range q["key"] {
			counts["key"] += c.PurgeKey(k)
		}
		for _, p := range q["prefix"] {
			counts["prefix"] += c.PurgePrefix(p)
		}
		c.cfg.Logger.Info("purged", "how", "admin", "query", r.URL.RawQuery, "objects", counts)
		platform.WriteJSON(w, http.StatusOK, map[string]any{"purged": counts})
	})
}
