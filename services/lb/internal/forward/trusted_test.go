package forward

import (
	"strings"
	"testing"
)

func TestParseTrusted(t *testing.T) {
	tests := []struct {
		in       string
		trusted  []string
		stranger []string
		err      string
	}{
		{in: "", stranger: []string{"127.0.0.1", "::1"}},
		{in: "10.0.0.0/8, 192.0.2.7", trusted: []string{"10.1.2.3", "192.0.2.7", "::ffff:10.0.0.1"}, stranger: []string{"192.0.2.8", "11.0.0.1", "junk"}},
		{in: "fd00::/8,::1", trusted: []string{"fd12::1", "::1"}, stranger: []string{"fe80::1", "127.0.0.1"}},
		{in: "10.0.0.1/8", trusted: []string{"10.9.9.9"}}, // host bits are masked
		{in: "10.0.0.0/33", err: "neither"},
		{in: "proxy.local", err: "neither"},
		{in: "fe80::1%eth0", err: "neither"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			tr, err := ParseTrusted(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, ip := range tt.trusted {
				if !tr.Contains(ip) {
					t.Errorf("%s not trusted", ip)
				}
			}
			for _, ip := range tt.stranger {
				if tr.Contains(ip) {
					t.Errorf("%s trusted", ip)
				}
			}
		})
	}
}

func FuzzParseTrusted(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "::1, 192.0.2.1", "1.2.3.4/0", ",", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tr, err := ParseTrusted(s)
		if err != nil {
			return
		}
		for _, p := range tr {
			if !p.IsValid() || p != p.Masked() {
				t.Fatalf("%q gave prefix %v", s, p)
			}
			if !tr.Contains(p.Addr().String()) {
				t.Fatalf("%q: %v does not contain its own address", s, p)
			}
		}
	})
}

func TestClientAddr(t *testing.T) {
	tr, _ := ParseTrusted("10.0.0.0/8")
	tests := []struct {
		peer string
		xff  []string
		want string
	}{
		{"192.0.2.1", []string{"6.6.6.6"}, "192.0.2.1"},                           // untrusted peer: its XFF is a lie
		{"10.0.0.2", []string{"198.51.100.7"}, "198.51.100.7"},                    // trusted proxy vouches for its client
		{"10.0.0.2", []string{"6.6.6.6, 198.51.100.7, 10.0.0.9"}, "198.51.100.7"}, // right-most untrusted
		{"10.0.0.2", []string{"6.6.6.6", "198.51.100.7"}, "198.51.100.7"},
		{"10.0.0.2", nil, "10.0.0.2"},
		{"10.0.0.2", []string{"10.0.0.3, 10.0.0.4"}, "10.0.0.3"}, // all trusted: the farthest
	}
	for _, tt := range tests {
		if got := tr.ClientAddr(tt.peer, tt.xff); got != tt.want {
			t.Errorf("peer %s, XFF %q: client %s, want %s", tt.peer, tt.xff, got, tt.want)
		}
	}
}
