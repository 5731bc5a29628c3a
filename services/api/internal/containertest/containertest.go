// Package containertest starts the real dependencies of the api's tests,
// PostgreSQL and Redis, in containers with testcontainers-go, and removes
// them when the test ends. Images come from POSTGRES_IMAGE and REDIS_IMAGE
// (the Makefile points them at the air-gapped stand-ins when there is no
// registry), else the official ones. Only test files built with the
// `containers` tag (`make test`, never `make unit`) import it.
package containertest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"scalelab/services/platform/platformtest"
)

// Image returns the environment variable name, or def.
func Image(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Postgres is a running PostgreSQL container.
type Postgres struct {
	testcontainers.Container
	host, port string
}

// DSN returns the URL of database db on the server.
func (p *Postgres) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres:test@%s:%s/%s?sslmode=disable", p.host, p.port, db)
}

// StartPostgres starts a PostgreSQL whose database db exists, and returns
// once it takes connections; flags, if any, are passed to the server (e.g.
// "-c", "shared_preload_libraries=pg_stat_statements").
func StartPostgres(t testing.TB, db string, flags ...string) *Postgres {
	t.Helper()
	ctx := context.Background()
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithEnv(map[string]string{"POSTGRES_PASSWORD": "test", "POSTGRES_DB": db}),
		testcontainers.WithExposedPorts("5432/tcp"),
		// The strategy's own timeout (60 s by default) bounds the wait too:
		// on a busy machine a first start with initdb can take longer.
		testcontainers.WithWaitStrategyAndDeadline(3*time.Minute,
			wait.ForListeningPort("5432/tcp").WithStartupTimeout(3*time.Minute)),
		// No test here is about surviving a crash of PostgreSQL itself:
		// without fsync it starts and writes faster on a busy machine.
		testcontainers.WithCmd(append([]string{"postgres", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"}, flags...)...),
	}
	ctr, err := testcontainers.Run(ctx, Image("POSTGRES_IMAGE", "postgres:15-bookworm"), opts...)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	host, _ := ctr.Host(ctx)
	port, _ := ctr.MappedPort(ctx, "5432/tcp")
	p := &Postgres{Container: ctr, host: host, port: port.Port()}
	Connect(t, p.DSN(db)).Close(ctx)
	return p
}

// CreateDatabases adds databases to the server: several shards on one
// server are, to the router, as many DSNs, for the cost of one container.
func (p *Postgres) CreateDatabases(t testing.TB, dbs ...string) {
	t.Helper()
	conn := Connect(t, p.DSN("postgres"))
	defer conn.Close(context.Background())
	for _, db := range dbs {
		if _, err := conn.Exec(context.Background(), "CREATE DATABASE "+db); err != nil {
			t.Fatalf("create database %s: %v", db, err)
		}
	}
}

// Connect waits out PostgreSQL's start (the port opens before the server
// takes connections, and it restarts once after initdb) and connects.
func Connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			err = conn.Ping(ctx)
		}
		cancel()
		if err == nil {
			return conn
		}
		if conn != nil {
			conn.Close(context.Background())
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect %s: %v", dsn, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Redis is a running Redis container.
type Redis struct {
	testcontainers.Container
	// URL is redis://host:port/0.
	URL string
}

// StartRedis starts a Redis and returns once it listens; flags, if any, are
// passed to redis-server (e.g. "--appendonly", "yes" to survive a kill).
// Its host port is fixed for the container's life, unlike testcontainers'
// default, so that a Redis stopped and started again is found at the same
// address by the clients that knew it.
func StartRedis(t testing.TB, flags ...string) *Redis {
	t.Helper()
	ctx := context.Background()
	_, hostPort, _ := net.SplitHostPort(platformtest.FreeAddr(t))
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithExposedPorts("6379/tcp"),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.PortBindings = network.PortMap{network.MustParsePort("6379/tcp"): {{HostPort: hostPort}}}
		}),
		testcontainers.WithWaitStrategyAndDeadline(2*time.Minute,
			wait.ForListeningPort("6379/tcp").WithStartupTimeout(2*time.Minute)),
	}
	if len(flags) > 0 {
		opts = append(opts, testcontainers.WithCmd(append([]string{"redis-server"}, flags...)...))
	}
	ctr, err := testcontainers.Run(ctx, Image("REDIS_IMAGE", "redis:7-bookworm"), opts...)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("start redis: %v", err)
	}
	host, _ := ctr.Host(ctx)
	return &Redis{Container: ctr, URL: fmt.Sprintf("redis://%s:%s/0", host, hostPort)}
}

// Docker runs a docker CLI command on a container (pause, unpause, kill):
// testcontainers has no verbs for freezing a process or killing it without
// a clean shutdown, which are exactly the failures the tests are about.
func Docker(t testing.TB, verb string, ctr testcontainers.Container) {
	t.Helper()
	if out, err := exec.Command("docker", verb, ctr.GetContainerID()).CombinedOutput(); err != nil {
		t.Fatalf("docker %s: %v: %s", verb, err, out)
	}
}
