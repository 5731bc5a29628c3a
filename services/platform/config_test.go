package platform

import (
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mapEnv returns a getenv backed by m.
func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// checkErr asserts that env recorded no error (wantErr false) or an error
// naming the variable (wantErr true).
func checkErr(t *testing.T, env *Env, name string, wantErr bool) {
	t.Helper()
	err := env.Err()
	switch {
	case wantErr && err == nil:
		t.Fatalf("Err() = nil, want an error naming %s", name)
	case wantErr && !strings.Contains(err.Error(), name+":"):
		t.Fatalf("Err() = %q, does not name %s", err, name)
	case !wantErr && err != nil:
		t.Fatalf("Err() = %v, want nil", err)
	}
}

func TestEnvString(t *testing.T) {
	tests := []struct {
		name, value, def, want string
	}{
		{"unset uses default", "", "def", "def"},
		{"blank uses default", "   ", "def", "def"},
		{"set", "value", "def", "value"},
		{"trimmed", "  value\t", "def", "value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := NewEnv(mapEnv(map[string]string{"V": tt.value}))
			if got := env.String("V", tt.def); got != tt.want {
				t.Errorf("String = %q, want %q", got, tt.want)
			}
			checkErr(t, env, "V", false)
		})
	}
}

func TestEnvRequired(t *testing.T) {
	tests := []struct {
		name, value, want string
		wantErr           bool
	}{
		{"set", "x", "x", false},
		{"unset", "", "", true},
		{"blank", " \t ", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := NewEnv(mapEnv(map[string]string{"REQ": tt.value}))
			if got := env.Required("REQ"); got != tt.want {
				t.Errorf("Required = %q, want %q", got, tt.want)
			}
			checkErr(t, env, "REQ", tt.wantErr)
		})
	}
}

func TestEnvInt(t *testing.T) {
	tests := []struct {
		name, value string
		want        int
		wantErr     bool
	}{
		{"unset", "", 7, false},
		{"valid", "42", 42, false},
		{"min bound", "1", 1, false},
		{"max bound", "100", 100, false},
		{"below min", "0", 7, true},
		{"above max", "101", 7, true},
		{"negative", "-5", 7, true},
		{"not a number", "abc", 7, true},
		{"float", "1.5", 7, true},
		{"with unit", "10s", 7, true},
		{"overflow", "99999999999999999999", 7, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := NewEnv(mapEnv(map[string]string{"N": tt.value}))
			if got := env.Int("N", 7, 1, 100); got != tt.want {
				t.Errorf("Int = %d, want %d", got, tt.want)
			}
			checkErr(t, env, "N", tt.wantErr)
		})
	}
}

func TestEnvDuration(t *testing.T) {
	const def = 5 * time.Second
	tests := []struct {
		name, value string
		want        time.Duration
		wantErr     bool
	}{
		{"unset", "", def, false},
		{"millis", "250ms", 250 * time.Millisecond, false},
		{"seconds", "2s", 2 * time.Second, false},
		{"compound", "1m30s", 90 * time.Second, false},
		{"zero", "0", 0, false},
		{"max bound", "2m", 2 * time.Minute, false},
		{"above max", "3m", def, true},
		{"negative", "-1s", def, true},
		{"no unit", "5", def, true},
		{"garbage", "soon", def, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := NewEnv(mapEnv(map[string]string{"D": tt.value}))
			if got := env.Duration("D", def, 0, 2*time.Minute); got != tt.want {
				t.Errorf("Duration = %v, want %v", got, tt.want)
			}
			checkErr(t, env, "D", tt.wantErr)
		})
	}
}

func TestEnvBytes(t *testing.T) {
	const def = 1 << 20
	tests := []struct {
		name, value string
		want        int64
		wantErr     bool
	}{
		{"unset", "", def, false},
		{"plain", "4096", 4096, false},
		{"KiB", "64KiB", 64 << 10, false},
		{"MiB", "256MiB", 256 << 20, false},
		{"GiB", "1GiB", 1 << 30, false},
		{"below min", "512", def, true},
		{"below min with suffix", "0KiB", def, true},
		{"bad unit", "64KB", def, true},
		{"garbage", "lots", def, true},
		{"negative", "-1", def, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := NewEnv(mapEnv(map[string]string{"SIZE": tt.value}))
			if got := env.Bytes("SIZE", def, 1024); got != tt.want {
				t.Errorf("Bytes = %d, want %d", got, tt.want)
			}
			checkErr(t, env, "SIZE", tt.wantErr)
		})
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"0", 0, false},
		{"1048576", 1 << 20, false},
		{"1B", 1, false},
		{"64KiB", 64 << 10, false},
		{"64 KiB", 64 << 10, false},
		{"256MiB", 256 << 20, false},
		{"1GiB", 1 << 30, false},
		{"4294967296GiB", 1 << 62, false}, // the largest size accepted
		{"4611686018427387904", 1 << 62, false},
		{"4611686018427387905", 0, true},
		{"4294967297GiB", 0, true},  // would be above 1<<62
		{"8589934592GiB", 0, true},  // 1<<63: overflows int64
		{"17179869184GiB", 0, true}, // 1<<64: wraps to 0 without the bound
		{"9223372036854775807", 0, true},
		{"9223372036854775808", 0, true}, // not an int64
		{"", 0, true},
		{"KiB", 0, true},
		{"-1", 0, true},
		{"-1KiB", 0, true},
		{"1.5MiB", 0, true},
		{"1kib", 0, true},
		{"1KB", 0, true},
		{"1 TiB", 0, true},
		{"0x10", 0, true},
		{"ten", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseBytes(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseBytes(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				if got != 0 {
					t.Errorf("ParseBytes(%q) = %d with an error, want 0", tt.in, got)
				}
				if !strings.Contains(err.Error(), strconv.Quote(tt.in)) {
					t.Errorf("error %q does not quote the input", err)
				}
				return
			}
			if got != tt.want {
				t.Errorf("ParseBytes(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"0", "1", "1B", "64KiB", "64 KiB", "256MiB", "1GiB", "4294967296GiB",
		"4294967297GiB", "9223372036854775807", "-1", "+1", "KiB", "", "1.5MiB", " 1 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseBytes(s)
		if err != nil {
			if n != 0 {
				t.Fatalf("ParseBytes(%q) = %d with error %v", s, n, err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("ParseBytes(%q) error spans lines: %q", s, err)
			}
			return
		}
		if n < 0 || n > 1<<62 {
			t.Fatalf("ParseBytes(%q) = %d, outside [0, 1<<62]", s, n)
		}
		// The value is a whole number of the unit it was written in.
		mult := int64(1)
		switch {
		case strings.HasSuffix(s, "GiB"):
			mult = 1 << 30
		case strings.HasSuffix(s, "MiB"):
			mult = 1 << 20
		case strings.HasSuffix(s, "KiB"):
			mult = 1 << 10
		}
		if n%mult != 0 {
			t.Fatalf("ParseBytes(%q) = %d, not a multiple of %d", s, n, mult)
		}
		// The plain decimal form is accepted and means the same size.
		back, err := ParseBytes(strconv.FormatInt(n, 10))
		if err != nil || back != n {
			t.Fatalf("ParseBytes(%q) = %d, but ParseBytes(%d) = %d, %v", s, n, n, back, err)
		}
	})
}

func TestEnvAddr(t *testing.T) {
	const def = ":8080"
	tests := []struct {
		name, value, want string
		wantErr           bool
	}{
		{"unset", "", def, false},
		{"port only", ":9000", ":9000", false},
		{"host and port", "127.0.0.1:9100", "127.0.0.1:9100", false},
		{"ipv6", "[::1]:80", "[::1]:80", false},
		{"name", "localhost:80", "localhost:80", false},
		{"ephemeral", ":0", ":0", false},
		{"max port", ":65535", ":65535", false},
		{"port too big", ":65536", def, true},
		{"negative port", ":-1", def, true},
		{"named port", ":http", def, true},
		{"empty port", "127.0.0.1:", def, true},
		{"no port", "localhost", def, true},
		{"too many colons", "::1:80", def, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := NewEnv(mapEnv(map[string]string{"ADDR": tt.value}))
			if got := env.Addr("ADDR", def); got != tt.want {
				t.Errorf("Addr = %q, want %q", got, tt.want)
			}
			checkErr(t, env, "ADDR", tt.wantErr)
		})
	}
}

func TestEnvURL(t *testing.T) {
	tests := []struct {
		name, value, def string
		want             string // "" for nil
		wantErr          bool
	}{
		{"unset, no default", "", "", "", false},
		{"unset uses default", "", "http://origin:8080", "http://origin:8080", false},
		{"set", "https://example.com/x", "http://origin:8080", "https://example.com/x", false},
		{"wrong scheme", "ftp://example.com", "", "", true},
		{"no host", "http:///path", "", "", true},
		{"relative", "/path", "", "", true},
		{"bad port", "http://example.com:0", "", "", true},
		{"bad default", "", "ftp://x", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := NewEnv(mapEnv(map[string]string{"U": tt.value}))
			u := env.URL("U", tt.def, "http", "https")
			got := ""
			if u != nil {
				got = u.String()
			}
			if got != tt.want {
				t.Errorf("URL = %q, want %q", got, tt.want)
			}
			checkErr(t, env, "U", tt.wantErr)
		})
	}
}

func TestEnvURLList(t *testing.T) {
	tests := []struct {
		name, value string
		want        []string
		wantErr     bool
	}{
		{"unset", "", nil, false},
		{"one", "http://a:1", []string{"http://a:1"}, false},
		{"several with blanks", " http://a:1 , ,dns://b:2,", []string{"http://a:1", "dns://b:2"}, false},
		{"one bad", "http://a:1,ftp://b", nil, true},
		{"no host", "http://a:1,http://", nil, true},
		{"only commas", ",,", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := NewEnv(mapEnv(map[string]string{"L": tt.value}))
			us := env.URLList("L", "", "http", "dns")
			var got []string
			for _, u := range us {
				got = append(got, u.String())
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") || len(got) != len(tt.want) {
				t.Errorf("URLList = %q, want %q", got, tt.want)
			}
			checkErr(t, env, "L", tt.wantErr)
		})
	}
}

func TestSplitList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{" a , b ,,c,", []string{"a", "b", "c"}},
		{" , ", nil},
	}
	for _, tt := range tests {
		got := SplitList(tt.in)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("SplitList(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		in       string
		schemes  []string
		wantHost string
		wantErr  string // substring of the error, "" for success
	}{
		{"http://example.com", []string{"http", "https"}, "example.com", ""},
		{"https://example.com:8443/p?q=1", []string{"http", "https"}, "example.com:8443", ""},
		{"HTTP://example.com", []string{"http"}, "example.com", ""}, // schemes are case-insensitive
		{"http://[::1]:80", []string{"http"}, "[::1]:80", ""},
		{"http://h:65535", []string{"http"}, "h:65535", ""},
		{"dns://localhost:53", []string{"http", "dns"}, "localhost:53", ""},
		{"anything://h", nil, "h", ""}, // no schemes: any scheme
		{"ftp://example.com", []string{"http", "https"}, "", "scheme must be one of http, https"},
		{"example.com:80", []string{"http"}, "", "scheme must be one of"},
		{"//example.com", []string{"http"}, "", "scheme must be one of"},
		{"http://", []string{"http"}, "", "has no host"},
		{"http:///path", []string{"http"}, "", "has no host"},
		{"http://:8080", []string{"http"}, "", "has no host"},
		{"http:example.com", []string{"http"}, "", "has no host"},
		{"http://h:0", []string{"http"}, "", "invalid port"},
		{"http://h:65536", []string{"http"}, "", "invalid port"},
		{"http://h:99999999999999999999", []string{"http"}, "", "invalid port"},
		{"http://h:port", []string{"http"}, "", "is not a URL"},
		{"http://h:-1", []string{"http"}, "", "is not a URL"},
		{"http://a b", []string{"http"}, "", "is not a URL"},
		{"http://h/\x7f", []string{"http"}, "", "is not a URL"},
		{"://h", []string{"http"}, "", "is not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, err := ParseURL(tt.in, tt.schemes...)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseURL(%q) = %v, want error containing %q", tt.in, u, tt.wantErr)
				}
				if u != nil {
					t.Errorf("ParseURL(%q) returned a URL with its error", tt.in)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), strconv.Quote(tt.in)) {
					t.Errorf("ParseURL(%q) error = %q, want it to quote the input and contain %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURL(%q) error = %v", tt.in, err)
			}
			if u.Host != tt.wantHost {
				t.Errorf("ParseURL(%q).Host = %q, want %q", tt.in, u.Host, tt.wantHost)
			}
		})
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"http://example.com", "https://h:8443/p?q=1#f", "dns://localhost:53",
		"http://[::1]:80", "http://:80", "http://h:0", "http://h:65536", "ftp://h", "//h", "http:h",
		"http://u:p@h/", "http://h:", "http://[fe80::1%25en0]:8080/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURL(s, "http", "https", "dns")
		if err != nil {
			if u != nil {
				t.Fatalf("ParseURL(%q) returned a URL with error %v", s, err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("ParseURL(%q) error spans lines: %q", s, err)
			}
			return
		}
		switch u.Scheme {
		case "http", "https", "dns":
		default:
			t.Fatalf("ParseURL(%q) accepted scheme %q", s, u.Scheme)
		}
		if u.Hostname() == "" {
			t.Fatalf("ParseURL(%q) accepted an empty host", s)
		}
		if p := u.Port(); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				t.Fatalf("ParseURL(%q) accepted port %q", s, p)
			}
		}
	})
}

func TestEnvLogLevel(t *testing.T) {
	tests := []struct {
		value   string
		want    slog.Level
		wantErr bool
	}{
		{"", slog.LevelWarn, false},
		{"debug", slog.LevelDebug, false},
		{"INFO", slog.LevelInfo, false},
		{"Warn", slog.LevelWarn, false},
		{"error", slog.LevelError, false},
		{"info+2", slog.LevelInfo + 2, false},
		{"verbose", slog.LevelWarn, true},
		{"warning", slog.LevelWarn, true},
		{"3", slog.LevelWarn, true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			env := NewEnv(mapEnv(map[string]string{"LOG_LEVEL": tt.value}))
			if got := env.LogLevel("LOG_LEVEL", slog.LevelWarn); got != tt.want {
				t.Errorf("LogLevel = %v, want %v", got, tt.want)
			}
			checkErr(t, env, "LOG_LEVEL", tt.wantErr)
		})
	}
}

func TestEnvErrNamesEveryBadVariableOnOneLine(t *testing.T) {
	env := NewEnv(mapEnv(map[string]string{
		"GOOD_INT":  "5",
		"BAD_INT":   "five\nlines", // a newline in a value must not split the message
		"BAD_DUR":   "10",
		"BAD_BYTES": "1 TB",
		"BAD_ADDR":  "localhost",
		"BAD_URL":   "ftp://x",
		"BAD_LIST":  "http://a,http://",
		"BAD_LEVEL": "loud\r\n",
	}))
	env.Int("GOOD_INT", 0, 0, 10)
	env.Required("MISSING")
	env.Int("BAD_INT", 0, 0, 10)
	env.Duration("BAD_DUR", 0, 0, time.Hour)
	env.Bytes("BAD_BYTES", 0, 0)
	env.Addr("BAD_ADDR", ":1")
	env.URL("BAD_URL", "", "http")
	env.URLList("BAD_LIST", "", "http")
	env.LogLevel("BAD_LEVEL", slog.LevelInfo)

	err := env.Err()
	if err == nil {
		t.Fatal("Err() = nil, want an error")
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("Err() spans several lines: %q", msg)
	}
	for _, name := range []string{"MISSING", "BAD_INT", "BAD_DUR", "BAD_BYTES", "BAD_ADDR", "BAD_URL", "BAD_LIST", "BAD_LEVEL"} {
		if !strings.Contains(msg, name+":") {
			t.Errorf("Err() = %q, does not name %s", msg, name)
		}
	}
	if strings.Contains(msg, "GOOD_INT") {
		t.Errorf("Err() = %q, names the valid GOOD_INT", msg)
	}
}

func TestEnvErrNilWhenAllValid(t *testing.T) {
	env := NewEnv(mapEnv(map[string]string{"A": "1", "B": "1s", "C": "1KiB", "D": ":80", "E": "http://h"}))
	env.Int("A", 0, 0, 1)
	env.Duration("B", 0, 0, time.Second)
	env.Bytes("C", 0, 0)
	env.Addr("D", ":1")
	env.URL("E", "", "http")
	env.String("F", "x")
	if err := env.Err(); err != nil {
		t.Fatalf("Err() = %v, want nil", err)
	}
}

func TestLoadBase(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		env := NewEnv(mapEnv(nil))
		b := LoadBase(env, ":8080")
		want := Base{ListenAddr: ":8080", AdminAddr: ":9100", LogLevel: slog.LevelInfo, ShutdownTimeout: 10 * time.Second}
		if b != want {
			t.Errorf("LoadBase = %+v, want %+v", b, want)
		}
		checkErr(t, env, "", false)
	})
	t.Run("set", func(t *testing.T) {
		env := NewEnv(mapEnv(map[string]string{
			"LISTEN_ADDR": "127.0.0.1:1", "ADMIN_ADDR": "127.0.0.1:2", "LOG_LEVEL": "debug",
			"SHUTDOWN_TIMEOUT": "3s", "DRAIN_DELAY": "300ms",
		}))
		b := LoadBase(env, ":8080")
		want := Base{ListenAddr: "127.0.0.1:1", AdminAddr: "127.0.0.1:2", LogLevel: slog.LevelDebug,
			ShutdownTimeout: 3 * time.Second, DrainDelay: 300 * time.Millisecond}
		if b != want {
			t.Errorf("LoadBase = %+v, want %+v", b, want)
		}
		checkErr(t, env, "", false)
	})
	t.Run("invalid", func(t *testing.T) {
		env := NewEnv(mapEnv(map[string]string{
			"LISTEN_ADDR": "nope", "ADMIN_ADDR": ":70000", "LOG_LEVEL": "chatty",
			"SHUTDOWN_TIMEOUT": "11m", "DRAIN_DELAY": "-1s",
		}))
		LoadBase(env, ":8080")
		err := env.Err()
		if err == nil {
			t.Fatal("Err() = nil")
		}
		for _, name := range []string{"LISTEN_ADDR", "ADMIN_ADDR", "LOG_LEVEL", "SHUTDOWN_TIMEOUT", "DRAIN_DELAY"} {
			if !strings.Contains(err.Error(), name+":") {
				t.Errorf("Err() = %q, does not name %s", err, name)
			}
		}
	})
}
