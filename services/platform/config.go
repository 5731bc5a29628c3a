package platform

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Env reads typed configuration from environment variables. Each getter
// records a problem instead of failing at once, so Err can report every bad
// variable in one line, each one named.
type Env struct {
	getenv func(string) string
	errs   []error
}

// NewEnv reads variables through getenv (os.Getenv in main, a map in tests).
func NewEnv(getenv func(string) string) *Env { return &Env{getenv: getenv} }

// Err returns nil when every variable read so far was valid, or one error
// naming each invalid variable.
func (e *Env) Err() error {
	if len(e.errs) == 0 {
		return nil
	}
	msgs := make([]string, len(e.errs))
	for i, err := range e.errs {
		msgs[i] = err.Error()
	}
	return errors.New("invalid configuration: " + strings.Join(msgs, "; "))
}

func (e *Env) fail(name, format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
}

func (e *Env) lookup(name string) (string, bool) {
	v := strings.TrimSpace(e.getenv(name))
	return v, v != ""
}

// String returns the variable, or def when it is unset or empty.
func (e *Env) String(name, def string) string {
	if v, ok := e.lookup(name); ok {
		return v
	}
	return def
}

// Required returns the variable and records an error when it is unset.
func (e *Env) Required(name string) string {
	v, ok := e.lookup(name)
	if !ok {
		e.fail(name, "is required")
	}
	return v
}

// Int returns the variable as an integer within [min, max].
func (e *Env) Int(name string, def, min, max int) int {
	v, ok := e.lookup(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.fail(name, "%q is not an integer", v)
		return def
	}
	if n < min || n > max {
		e.fail(name, "%d is out of range [%d, %d]", n, min, max)
		return def
	}
	return n
}

// Duration returns the variable as a Go duration ("250ms", "5s") within [min, max].
func (e *Env) Duration(name string, def, min, max time.Duration) time.Duration {
	v, ok := e.lookup(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.fail(name, "%q is not a duration (e.g. 250ms, 5s)", v)
		return def
	}
	if d < min || d > max {
		e.fail(name, "%s is out of range [%s, %s]", d, min, max)
		return def
	}
	return d
}

// Bytes returns the variable as a size: a plain number of bytes or one with a
// KiB/MiB/GiB suffix.
func (e *Env) Bytes(name string, def, min int64) int64 {
	v, ok := e.lookup(name)
	if !ok {
		return def
	}
	n, err := ParseBytes(v)
	if err != nil {
		e.fail(name, "%v", err)
		return def
	}
	if n < min {
		e.fail(name, "%d bytes is below the minimum %d", n, min)
		return def
	}
	return n
}

// ParseBytes parses "1048576", "64KiB", "256MiB" or "1GiB".
func ParseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	num := s
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			mult, num = u.mult, strings.TrimSpace(strings.TrimSuffix(s, u.suffix))
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size (e.g. 1048576, 64KiB, 256MiB, 1GiB)", s)
	}
	return n * mult, nil
}

// Addr returns a listen address such as ":8080" or "127.0.0.1:9100".
func (e *Env) Addr(name, def string) string {
	v := e.String(name, def)
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		e.fail(name, "%q is not a host:port address", v)
		return def
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		e.fail(name, "%q has an invalid port", v)
		return def
	}
	_ = host // any host (or none: every interface) is fine for a listener
	return v
}

// Bool returns the variable as a boolean (true/false, 1/0, yes/no, on/off).
func (e *Env) Bool(name string, def bool) bool {
	v, ok := e.lookup(name)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		return true
	case "false", "0", "no", "off":
		return false
	}
	e.fail(name, "%q is not a boolean (true or false)", v)
	return def
}

// Fail records a problem with a variable found by a check of the caller's
// own, so that it is reported with the others.
func (e *Env) Fail(name string, err error) { e.fail(name, "%v", err) }

// InstanceID returns INSTANCE_ID, or the hostname (in a container: its id),
// the name a replica answers with in X-Served-By.
func (e *Env) InstanceID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return e.String("INSTANCE_ID", host)
}

// URL returns the variable as an absolute URL with one of the given schemes.
func (e *Env) URL(name, def string, schemes ...string) *url.URL {
	v := e.String(name, def)
	if v == "" {
		return nil
	}
	u, err := ParseURL(v, schemes...)
	if err != nil {
		e.fail(name, "%v", err)
		return nil
	}
	return u
}

// URLList returns a comma-separated list of absolute URLs.
func (e *Env) URLList(name, def string, schemes ...string) []*url.URL {
	v := e.String(name, def)
	var out []*url.URL
	for _, item := range SplitList(v) {
		u, err := ParseURL(item, schemes...)
		if err != nil {
			e.fail(name, "%v", err)
			return nil
		}
		out = append(out, u)
	}
	return out
}

// SplitList splits a comma-separated value, dropping empty items.
func SplitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// ParseURL parses an absolute URL whose scheme is one of schemes and which
// names a host.
func ParseURL(s string, schemes ...string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL", s)
	}
	okScheme := len(schemes) == 0
	for _, sc := range schemes {
		if u.Scheme == sc {
			okScheme = true
		}
	}
	if !okScheme {
		return nil, fmt.Errorf("%q: scheme must be one of %s", s, strings.Join(schemes, ", "))
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%q has no host", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q has an invalid port", s)
		}
	}
	return u, nil
}
