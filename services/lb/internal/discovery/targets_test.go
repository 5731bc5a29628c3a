package discovery

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseTargets(t *testing.T) {
	tests := []struct {
		in      string
		want    []string // "static host:port" or "dns name port"
		wantErr string
	}{
		{in: "http://api:8080", want: []string{"static api:8080"}},
		{in: "http://api", want: []string{"static api:80"}},
		{in: "http://10.0.0.1:80/", want: []string{"static 10.0.0.1:80"}},
		{in: "http://[::1]:9000", want: []string{"static [::1]:9000"}},
		{in: "dns://api:8080", want: []string{"dns api 8080"}},
		{in: " http://a:1 , dns://b:2 ,", want: []string{"static a:1", "dns b 2"}},
		{in: "", wantErr: "no backend"},
		{in: " , ", wantErr: "no backend"},
		{in: "ftp://x", wantErr: "scheme"},
		{in: "http://", wantErr: "no host"},
		{in: "dns://name", wantErr: "needs a port"},
		{in: "dns://name:0", wantErr: "invalid port"},
		{in: "http://a:99999", wantErr: "invalid port"},
		{in: "http://a:80/api", wantErr: "no path"},
		{in: "http://a:80?x=1", wantErr: "no path"},
		{in: "api:8080", wantErr: "scheme"},
		{in: "http://a:1,ftp://b", wantErr: "ftp://b"},
		{in: "http://a:1 weight=3, dns://b:2  weight=10", want: []string{"static a:1 w3", "dns b 2 w10"}},
		{in: "http://a:1 weight=0", wantErr: "weight=N"},
		{in: "http://a:1 weight=1001", wantErr: "weight=N"},
		{in: "http://a:1 weight=x", wantErr: "weight=N"},
		{in: "http://a:1 max_fails=3", wantErr: "weight=N"},
		{in: "weight=2 http://a:1", wantErr: "weight=N"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTargets(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var desc []string
			for _, g := range got {
				var d string
				if g.IsDNS() {
					d = "dns " + g.Name + " " + g.Port
				} else {
					d = "static " + g.Static.Host
				}
				if g.Weight != 1 {
					d += fmt.Sprintf(" w%d", g.Weight)
				}
				desc = append(desc, d)
			}
			if strings.Join(desc, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("got %q, want %q", desc, tt.want)
			}
		})
	}
}

func FuzzParseTargets(f *testing.F) {
	for _, s := range []string{"http://a:1", "dns://b:2", "ftp://x", "http://", "dns://x", "http://[::1]:80,dns://a:9", "http://a:1 weight=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		targets, err := ParseTargets(s)
		if err != nil {
			return
		}
		for _, tg := range targets {
			if tg.Weight < 1 || tg.Weight > maxWeight {
				t.Fatalf("%q: weight %d out of range", s, tg.Weight)
			}
			if tg.IsDNS() && (tg.Name == "" || tg.Port == "") {
				t.Fatalf("%q: dns target without name or port: %+v", s, tg)
			}
			if !tg.IsDNS() && tg.Static.Host == "" {
				t.Fatalf("%q: static target without host", s)
			}
		}
	})
}
