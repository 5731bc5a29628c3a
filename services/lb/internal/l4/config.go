package l4

import (
	"time"

	"scalelab/services/platform"
)

// LoadConfig reads the L4_* variables; problems are recorded on env, each
// naming its variable. With L4_LISTEN_ADDR empty (the default) L4 mode is
// off and the other variables are still checked, so a typo is caught
// before the day it is switched on. The caller fills in Backends,
// ConnectTimeout, the shutdown bounds, Metrics and Logger.
func LoadConfig(env *platform.Env) Config {
	var cfg Config
	if env.String("L4_LISTEN_ADDR", "") != "" {
		cfg.ListenAddr = env.Addr("L4_LISTEN_ADDR", "")
	}
	policy, err := NewPolicy(env.String("L4_POLICY", "round_robin"))
	if err != nil {
		env.Fail("L4_POLICY", err)
	}
	cfg.Policy = policy
	cfg.DialAttempts = env.Int("L4_DIAL_ATTEMPTS", 3, 1, 100)
	cfg.IdleTimeout = env.Duration("L4_IDLE_TIMEOUT", 5*time.Minute, 0, 24*time.Hour)
	if cfg.ProxyProtocol, err = ParseProxyProtocol(env.String("L4_PROXY_PROTOCOL", "off")); err != nil {
		env.Fail("L4_PROXY_PROTOCOL", err)
	}
	return cfg
}
