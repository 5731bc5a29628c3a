package containertest

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

// RedisCluster is a running Redis Cluster: three primaries and a replica
// of each, on one docker network, made by `redis-cli --cluster create`.
type RedisCluster struct {
	Nodes []testcontainers.Container
	// Addrs are the nodes' ip:6379 on their network, in Nodes' order: the
	// addresses the cluster announces, which the host can reach.
	Addrs []string
}

// ClusterNodeTimeout is the nodes' cluster-node-timeout: how long a
// primary may be unreachable before its replica takes over. Redis's
// default (15 s) would make a failover test wait that long.
const ClusterNodeTimeout = 2 * time.Second

// StartRedisCluster starts six Redis nodes in cluster mode, joins them (3
// primaries, 1 replica each) and returns once every node sees all 16384
// slots served.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	ctx := context.Background()
	nw, err := network.New(ctx)
	if err != nil {
		t.Fatalf("redis cluster network: %v", err)
	}
	testcontainers.CleanupNetwork(t, nw)
	rc := &RedisCluster{Nodes: make([]testcontainers.Container, 6), Addrs: make([]string, 6)}
	errs := make([]error, 6)
	var wg sync.WaitGroup
	for i := range rc.Nodes {
		wg.Go(func() {
			ctr, err := testcontainers.Run(ctx, Image("REDIS_IMAGE", "redis:7-bookworm"),
				network.WithNetwork([]string{fmt.Sprintf("redis-%d", i)}, nw),
				testcontainers.WithCmd("redis-server", "--cluster-enabled", "yes",
					"--cluster-node-timeout", fmt.Sprint(ClusterNodeTimeout.Milliseconds()),
					"--appendonly", "no", "--save", "",
					// Sync a replica at once, not after the default 5 s
					// wait for more replicas to share the transfer.
					"--repl-diskless-sync-delay", "0"),
				testcontainers.WithWaitStrategyAndDeadline(2*time.Minute,
					wait.ForLog("Ready to accept connections").WithStartupTimeout(2*time.Minute)))
			rc.Nodes[i], errs[i] = ctr, err
			if err == nil {
				var ip string
				ip, errs[i] = ctr.ContainerIP(ctx)
				rc.Addrs[i] = ip + ":6379"
			}
		})
	}
	wg.Wait()
	for i, ctr := range rc.Nodes {
		testcontainers.CleanupContainer(t, ctr)
		if errs[i] != nil {
			t.Fatalf("start redis cluster node %d: %v", i, errs[i])
		}
	}
	create := append([]string{"redis-cli", "--cluster", "create"}, rc.Addrs...)
	rc.exec(t, 0, append(create, "--cluster-replicas", "1", "--cluster-yes")...)
	rc.awaitOK(t)
	rc.awaitReplicas(t)
	return rc
}

// awaitReplicas polls until every replica has synced with its primary: a
// replica that never has is not allowed to take over ("disconnected from
// master for longer than allowed"), so a failover test must not start
// before.
func (rc *RedisCluster) awaitReplicas(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for i := range rc.Nodes {
		for {
			info := rc.exec(t, i, "redis-cli", "info", "replication")
			if strings.Contains(info, "master_link_status:up") ||
				(strings.Contains(info, "role:master") && strings.Contains(info, "state=online")) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d: replication not up after a minute: %s", i, info)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// exec runs a command in node i and returns its output; fails the test on
// a non-zero exit.
func (rc *RedisCluster) exec(t testing.TB, i int, cmd ...string) string {
	t.Helper()
	code, out, err := rc.Nodes[i].Exec(context.Background(), cmd, tcexec.Multiplexed())
	var b []byte
	if out != nil {
		b, _ = io.ReadAll(out)
	}
	if err != nil || code != 0 {
		t.Fatalf("node %d: %s: exit %d, %v: %s", i, strings.Join(cmd, " "), code, err, b)
	}
	return string(b)
}

// awaitOK polls every node until it reports the cluster whole.
func (rc *RedisCluster) awaitOK(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for i := range rc.Nodes {
		for {
			info := rc.exec(t, i, "redis-cli", "cluster", "info")
			if strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_slots_ok:16384") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d never saw the cluster whole: %s", i, info)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// Node returns the container whose cluster address is addr (as a client
// names the node serving a slot).
func (rc *RedisCluster) Node(t testing.TB, addr string) testcontainers.Container {
	t.Helper()
	for i, a := range rc.Addrs {
		if a == addr {
			return rc.Nodes[i]
		}
	}
	t.Fatalf("no cluster node at %s (nodes: %v)", addr, rc.Addrs)
	return nil
}

// SeedAddrs is the comma-separated list for REDIS_CLUSTER_ADDRS.
func (rc *RedisCluster) SeedAddrs() string { return strings.Join(rc.Addrs, ",") }
