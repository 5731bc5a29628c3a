package l4

import (
	"strings"
	"testing"
	"time"

	"scalelab/services/platform"
)

func TestLoadConfigDefaults(t *testing.T) {
	env := platform.NewEnv(func(string) string { return "" })
	cfg := LoadConfig(env)
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	if cfg.ListenAddr != "" || cfg.DialAttempts != 3 || cfg.IdleTimeout != 5*time.Minute || cfg.ProxyProtocol != ProxyOff {
		t.Errorf("defaults: %+v", cfg)
	}
	if _, ok := cfg.Policy.(*RoundRobin); !ok {
		t.Errorf("default policy %T, want round robin", cfg.Policy)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"L4_LISTEN_ADDR": "8001"}, "L4_LISTEN_ADDR"},
		{map[string]string{"L4_POLICY": "random"}, "L4_POLICY"},
		{map[string]string{"L4_DIAL_ATTEMPTS": "0"}, "L4_DIAL_ATTEMPTS"},
		{map[string]string{"L4_IDLE_TIMEOUT": "forever"}, "L4_IDLE_TIMEOUT"},
		{map[string]string{"L4_PROXY_PROTOCOL": "v3"}, "L4_PROXY_PROTOCOL"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			env := platform.NewEnv(func(k string) string { return tt.vars[k] })
			LoadConfig(env)
			if err := env.Err(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
	env := platform.NewEnv(func(k string) string {
		return map[string]string{"L4_LISTEN_ADDR": ":8001", "L4_POLICY": "least_conn", "L4_PROXY_PROTOCOL": "v2", "L4_IDLE_TIMEOUT": "0s"}[k]
	})
	cfg := LoadConfig(env)
	if err := env.Err(); err != nil || cfg.ListenAddr != ":8001" || cfg.ProxyProtocol != ProxyV2 || cfg.IdleTimeout != 0 {
		t.Fatalf("cfg %+v, err %v", cfg, err)
	}
	if _, ok := cfg.Policy.(*LeastConn); !ok {
		t.Errorf("policy %T, want least_conn", cfg.Policy)
	}
}
