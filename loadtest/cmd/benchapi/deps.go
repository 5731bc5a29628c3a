package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// deps are the api's dependencies, as the integration test starts them:
// one PostgreSQL holding the three shards as three databases (to the
// router they are three DSNs; it costs one container instead of three)
// and one Redis.
type deps struct {
	shardDSNs []string
	redisURL  string
	redisAddr string // host:port, for the direct go-redis client

	containers []testcontainers.Container // terminated by close
}

// startDeps starts PostgreSQL and Redis. On error it has already removed
// whatever it started.
func startDeps(ctx context.Context, pgImage, redisImage string) (d *deps, err error) {
	d = &deps{}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	pg, err := startContainer(ctx, d, pgImage, "5432/tcp", 2*time.Minute,
		testcontainers.WithEnv(map[string]string{"POSTGRES_PASSWORD": "bench", "POSTGRES_DB": "shard0"}))
	if err != nil {
		return d, fmt.Errorf("start postgres (%s): %w", pgImage, err)
	}
	rd, err := startContainer(ctx, d, redisImage, "6379/tcp", time.Minute)
	if err != nil {
		return d, fmt.Errorf("start redis (%s): %w", redisImage, err)
	}

	pgAddr, err := hostPort(ctx, pg, "5432/tcp")
	if err != nil {
		return d, err
	}
	if d.redisAddr, err = hostPort(ctx, rd, "6379/tcp"); err != nil {
		return d, err
	}
	d.redisURL = "redis://" + d.redisAddr + "/0"
	dsn := func(db string) string {
		return fmt.Sprintf("postgres://postgres:bench@%s/%s?sslmode=disable", pgAddr, db)
	}
	if err := createDatabases(ctx, dsn("shard0"), "shard1", "shard2"); err != nil {
		return d, err
	}
	d.shardDSNs = []string{dsn("shard0"), dsn("shard1"), dsn("shard2")}
	return d, nil
}

// startContainer runs image with port published on the loopback interface
// only, and records it in d so that close removes it even if a later step
// fails.
func startContainer(ctx context.Context, d *deps, image, port string, readyWithin time.Duration,
	opts ...testcontainers.ContainerCustomizer) (testcontainers.Container, error) {
	opts = append(opts,
		testcontainers.WithExposedPorts(port),
		loopbackOnly(port),
		testcontainers.WithWaitStrategyAndDeadline(readyWithin, wait.ForListeningPort(port)),
	)
	c, err := testcontainers.Run(ctx, image, opts...)
	if c != nil { // Run may return a container that started but never got ready
		d.containers = append(d.containers, c)
	}
	return c, err
}

// loopbackOnly publishes port on 127.0.0.1 instead of every interface (the
// Docker default): a benchmark's database has no business on the network.
func loopbackOnly(port string) testcontainers.CustomizeRequestOption {
	return testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
		if hc.PortBindings == nil {
			hc.PortBindings = network.PortMap{}
		}
		hc.PortBindings[network.MustParsePort(port)] = []network.PortBinding{
			{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "0"},
		}
	})
}

func hostPort(ctx context.Context, c testcontainers.Container, port string) (string, error) {
	host, err := c.Host(ctx)
	if err != nil {
		return "", err
	}
	p, err := c.MappedPort(ctx, port)
	if err != nil {
		return "", err
	}
	return host + ":" + p.Port(), nil
}

// createDatabases makes the other shards' databases on the server, retrying
// the first connection: "listening" comes a moment before "accepting".
func createDatabases(ctx context.Context, dsn string, dbs ...string) error {
	var conn *pgx.Conn
	deadline := time.Now().Add(time.Minute)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := pgx.Connect(cctx, dsn)
		cancel()
		if err == nil {
			conn = c
			break
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("connect to postgres: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer conn.Close(context.Background())
	for _, db := range dbs {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			return fmt.Errorf("create database %s: %w", db, err)
		}
	}
	return nil
}

// close removes the containers. It ignores ctx on purpose: it runs on
// Ctrl-C too, when the run's context is already cancelled.
func (d *deps) close() {
	for _, c := range d.containers {
		if err := testcontainers.TerminateContainer(c); err != nil {
			fmt.Fprintf(os.Stderr, "benchapi: remove container: %v\n", err)
		}
	}
	d.containers = nil
}
