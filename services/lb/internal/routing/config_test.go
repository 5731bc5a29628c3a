package routing

import (
	"strings"
	"testing"
)

const example = `{
  "pools": {
    "api":    {"backends": "dns://api:8080", "policy": "least_request"},
    "static": {"backends": "http://origin:8090 weight=2, http://origin-b:8090"},
    "sticky": {"backends": "http://a:1", "policy": "hash", "hash_key": "cookie:session", "hash_balance_factor": 125}
  },
  "routes": [
    {"prefix": "/api", "pool": "api"},
    {"host": "images.lab", "prefix": "/", "pool": "static"},
    {"host": "*", "prefix": "/cart/", "pool": "sticky"},
    {"prefix": "/", "pool": "api"}
  ]
}`

func TestParseExample(t *testing.T) {
	c, err := Parse([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Pools) != 3 || len(c.Routes) != 4 || c.Pools["sticky"].HashBalanceFactor != 125 {
		t.Fatalf("parsed %+v", c)
	}
}

func TestParseErrors(t *testing.T) {
	pool := `"pools": {"api": {"backends": "http://a:1"}}`
	route := `"routes": [{"prefix": "/", "pool": "api"}]`
	tests := []struct{ name, file, want string }{
		{"not JSON", `pools: api`, "not the expected JSON"},
		{"unknown field", `{` + pool + `, ` + route + `, "extra": 1}`, `unknown field "extra"`},
		{"typo in a pool", `{"pools": {"api": {"backend": "http://a:1"}}, ` + route + `}`, `unknown field "backend"`},
		{"two values", `{` + pool + `, ` + route + `} {}`, "more than one"},
		{"no pools", `{` + route + `}`, "no pools"},
		{"no routes", `{` + pool + `}`, "no routes"},
		{"bad backends", `{"pools": {"api": {"backends": "ftp://a"}}, ` + route + `}`, `pool "api": backends`},
		{"no backends", `{"pools": {"api": {}}, ` + route + `}`, `pool "api": backends`},
		{"bad policy", `{"pools": {"api": {"backends": "http://a:1", "policy": "fastest"}}, ` + route + `}`, "not a policy"},
		{"bad hash key", `{"pools": {"api": {"backends": "http://a:1", "policy": "hash", "hash_key": "path"}}, ` + route + `}`, "hash_key"},
		{"hash key without hash", `{"pools": {"api": {"backends": "http://a:1", "hash_key": "client"}}, ` + route + `}`, "go with policy hash"},
		{"low balance factor", `{"pools": {"api": {"backends": "http://a:1", "policy": "hash", "hash_balance_factor": 50}}, ` + route + `}`, "hash_balance_factor"},
		{"unknown pool", `{` + pool + `, "routes": [{"prefix": "/", "pool": "web"}]}`, `no pool "web"`},
		{"relative prefix", `{` + pool + `, "routes": [{"prefix": "api", "pool": "api"}]}`, "prefix must start with /"},
		{"host with port", `{` + pool + `, "routes": [{"host": "a.lab:80", "prefix": "/", "pool": "api"}]}`, "without port"},
		{"duplicate route", `{` + pool + `, "routes": [{"prefix": "/", "pool": "api"}, {"host": "*", "prefix": "/", "pool": "api"}]}`, "same host and prefix"},
		{"bad pool name", `{"pools": {"a b": {"backends": "http://a:1"}}, "routes": [{"prefix": "/", "pool": "a b"}]}`, "pool name"},
		{"too big", strings.Repeat(" ", maxConfigBytes+1), "over the"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	c, err := Parse([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	tb := &table{pools: map[string]*Pool{}}
	for name := range c.Pools {
		tb.pools[name] = &Pool{Name: name}
	}
	for _, r := range c.Routes {
		tb.routes = append(tb.routes, route{host: normalHost(r.Host), prefix: r.Prefix, pool: tb.pools[r.Pool]})
	}
	sortRoutes(tb.routes)
	tests := []struct{ host, path, want string }{
		{"lb.lab", "/api", "api"},
		{"lb.lab", "/api/users/1", "api"},
		{"lb.lab", "/apiary", "api"},               // not /api: a whole segment; falls to the catch-all
		{"images.lab", "/api/x", "static"},         // a route naming the host wins over any-host routes
		{"IMAGES.lab:8000", "/logo.png", "static"}, // host compared without port and case
		{"lb.lab", "/cart/", "sticky"},
		{"lb.lab", "/cart/42", "sticky"},
		{"lb.lab", "/cart", "api"}, // /cart/ matches what starts with it only
		{"lb.lab", "/", "api"},
	}
	for _, tt := range tests {
		p := tb.match(tt.host, tt.path)
		if p == nil || p.Name != tt.want {
			t.Errorf("match(%q, %q) = %v, want %s", tt.host, tt.path, p, tt.want)
		}
	}
	// Without a catch-all, an unmatched request has no pool.
	tb.routes = tb.routes[:1]
	if p := tb.match("lb.lab", "/elsewhere"); p != nil {
		t.Errorf("match without a catch-all = %s, want none", p.Name)
	}
}

// FuzzParse: whatever the file holds, Parse returns a checked table or an
// error, never panics, and what it accepts routes every route to a pool
// that exists and re-parses as itself.
func FuzzParse(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte(`{"pools": {"a": {"backends": "http://a:1"}}, "routes": [{"prefix": "/", "pool": "a"}]}`))
	f.Add([]byte(`{"pools": {"a": {"backends": "dns://x:1 weight=3", "policy": "hash", "hash_key": "header:X"}}, "routes": [{"host": "h", "prefix": "/p/", "pool": "a"}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		if len(c.Pools) == 0 || len(c.Routes) == 0 {
			t.Fatalf("accepted a table without pools or routes: %q", data)
		}
		for _, r := range c.Routes {
			if _, ok := c.Pools[r.Pool]; !ok || !strings.HasPrefix(r.Prefix, "/") {
				t.Fatalf("accepted route %+v: %q", r, data)
			}
		}
		for name, p := range c.Pools {
			if _, err := p.NewPolicy(); err != nil {
				t.Fatalf("accepted pool %q whose policy fails: %v", name, err)
			}
		}
	})
}
