//go:build containers

package main

import (
	"hash/crc32"
	"strconv"
	"strings"
	"testing"
	"time"

	"scalelab/services/api/internal/containertest"
	"scalelab/services/platform/platformtest"
)

// A shard server that stops answering (frozen with docker pause: its host
// gone, its network cut) costs its users DB_TIMEOUT each at first, answered
// 504 so that a balancer does not try the same wait on another replica;
// after five such failures in a row its breaker opens and its users get a
// 503 at once, without the shard being asked; when it answers again, a
// probe after the cooldown closes the breaker. Default settings.
func TestAPIShardNotAnsweringFailsFastOnceKnown(t *testing.T) {
	d := startDeps(t)
	lone, loneDSN := startPostgres(t)
	api := platformtest.Start(t, run, map[string]string{
		"REDIS_URL": d.redisURL, "SHARD_DSNS": strings.Join([]string{d.shardDSNs[0], d.shardDSNs[1], loneDSN}, ","),
		"SEED_USERS": "60",
	})
	var onLone []string
	for id := 1; id <= 60; id++ {
		s := strconv.Itoa(id)
		if crc32.ChecksumIEEE([]byte(s))%3 == 2 {
			onLone = append(onLone, s)
		}
	}
	containertest.Docker(t, "pause", lone)
	unpaused := false
	t.Cleanup(func() {
		if !unpaused {
			containertest.Docker(t, "unpause", lone)
		}
	})
	for i, id := range onLone[:5] {
		resp, body := get(t, api.URL+"/users/"+id)
		if resp.StatusCode != 504 || !strings.Contains(body, "shard 2 did not answer in time") {
			t.Errorf("request %d for user %s of the frozen shard: %d %s, want 504 naming shard 2", i+1, id, resp.StatusCode, body)
		}
	}
	for _, id := range onLone[5:8] {
		resp, body := get(t, api.URL+"/users/"+id)
		if resp.StatusCode != 503 || !strings.Contains(body, "shard 2 is unavailable: not answering") {
			t.Errorf("user %s once the breaker is open: %d %s, want 503 without asking the shard", id, resp.StatusCode, body)
		}
	}
	if got := sumMetric(t, api.AdminURL, `scalelab_api_shard_breaker_open{server=`); got != 1 {
		t.Errorf("breaker gauges sum to %v, want 1 (shard 2's open)", got)
	}
	containertest.Docker(t, "unpause", lone)
	unpaused = true
	// Bounded wait on the cooldown (1 s) and the probe, both in the api
	// process, and on the unpaused server answering again.
	var status int
	for deadline := time.Now().Add(15 * time.Second); status != 200 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, _ := get(t, api.URL+"/users/"+onLone[8])
		status = resp.StatusCode
	}
	if status != 200 {
		t.Fatalf("user %s after the shard answers again: %d, want 200", onLone[8], status)
	}
	if got := sumMetric(t, api.AdminURL, `scalelab_api_shard_breaker_open{server=`); got != 0 {
		t.Errorf("breaker gauges sum to %v once the shard answers, want 0", got)
	}
}
