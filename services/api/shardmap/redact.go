package shardmap

import (
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

// Redact names a shard by its DSN without the credentials: host, port and
// database (several shards may share one server, as in the tests).
func Redact(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
}
