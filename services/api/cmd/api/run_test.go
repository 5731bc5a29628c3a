package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestRunRejectsBadConfig(t *testing.T) {
	valid := map[string]string{
		"REDIS_URL":  "redis://localhost:6379/0",
		"SHARD_DSNS": "postgres://u:p@localhost:5432/a,postgres://u:p@localhost:5432/b",
	}
	tests := []struct {
		name     string
		override map[string]string
		wantVar  string
	}{
		{"missing redis", map[string]string{"REDIS_URL": ""}, "REDIS_URL"},
		{"bad redis scheme", map[string]string{"REDIS_URL": "http://x"}, "REDIS_URL"},
		{"missing shards", map[string]string{"SHARD_DSNS": ""}, "SHARD_DSNS"},
		{"bad shard dsn", map[string]string{"SHARD_DSNS": "postgres://u:p@localhost:notaport/db"}, "SHARD_DSNS"},
		{"negative ttl", map[string]string{"CACHE_TTL": "-5s"}, "CACHE_TTL"},
		{"ttl not a duration", map[string]string{"CACHE_TTL": "often"}, "CACHE_TTL"},
		{"seed not a number", map[string]string{"SEED_USERS": "many"}, "SEED_USERS"},
		{"bad listen addr", map[string]string{"LISTEN_ADDR": "8080"}, "LISTEN_ADDR"},
		{"bad log level", map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{"unknown strategy", map[string]string{"CACHE_STRATEGY": "write-back"}, "CACHE_STRATEGY"},
		{"unknown router", map[string]string{"SHARD_ROUTER": "ring"}, "SHARD_ROUTER"},
		{"unknown engine", map[string]string{"API_ENGINE": "turbo"}, "API_ENGINE"},
		{"node id out of range", map[string]string{"NODE_ID": "1024"}, "NODE_ID"},
		{"negative ttl of absent users", map[string]string{"CACHE_NEGATIVE_TTL": "-1s"}, "CACHE_NEGATIVE_TTL"},
		{"shard query delay not a duration", map[string]string{"SHARD_QUERY_DELAY": "slow"}, "SHARD_QUERY_DELAY"},
		{"negative shard query delay", map[string]string{"SHARD_QUERY_DELAY": "-1ms"}, "SHARD_QUERY_DELAY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range valid {
				env[k] = v
			}
			for k, v := range tt.override {
				env[k] = v
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // a valid config would start and stop at once
			err := run(ctx, []string{"api"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantVar) {
				t.Fatalf("run() = %v, want an error naming %s", err, tt.wantVar)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
}
