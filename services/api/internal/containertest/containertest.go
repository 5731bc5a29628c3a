// Package containertest starts the real dependencies of the api's tests,
// PostgreSQL and Redis, in containers with testcontainers-go, and removes
// them when the test ends. Images come from POSTGRES_IMAGE and REDIS_IMAGE
// (the Makefile points them at the air-gapped stand-ins when there is no
// registry), else the official ones.
package containertest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
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
// once it takes connections.
func StartPostgres(t testing.TB, db string) *Postgres {
	t.Helper()
	ctx := context.Background()
	ctr, err := testcontainers.Run(ctx, Image("POSTGRES_IMAGE", "postgres:15-bookworm"),
		testcontainers.WithEnv(map[string]string{"POSTGRES_PASSWORD": "test", "POSTGRES_DB": db}),
		testcontainers.WithExposedPorts("5432/tcp"),
		testcontainers.WithWaitStrategyAndDeadline(2*time.Minute, wait.ForListeningPort("5432/tcp")),
	)
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

// StartRedis starts a Redis and returns once it listens.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	ctx := context.Background()
	ctr, err := testcontainers.Run(ctx, Image("REDIS_IMAGE", "redis:7-bookworm"),
		testcontainers.WithExposedPorts("6379/tcp"),
		testcontainers.WithWaitStrategyAndDeadline(time.Minute, wait.ForListeningPort("6379/tcp")),
	)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("start redis: %v", err)
	}
	host, _ := ctr.Host(ctx)
	port, _ := ctr.MappedPort(ctx, "6379/tcp")
	return &Redis{Container: ctr, URL: fmt.Sprintf("redis://%s:%s/0", host, port.Port())}
}
