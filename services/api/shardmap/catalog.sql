-- The catalog: every version of the users tier's shard map, and the state of
-- the reshard in progress (at most one). Applied by the api and by shardctl;
-- idempotent.
CREATE TABLE IF NOT EXISTS shard_map (
    version    bigint      PRIMARY KEY,
    router     text        NOT NULL,
    dsns       text[]      NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE IF NOT EXISTS reshard (
    id           int         PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    from_version bigint      NOT NULL,
    to_router    text        NOT NULL,
    to_dsns      text[]      NOT NULL,
    phase        text        NOT NULL,
    cursors      bigint[]    NOT NULL DEFAULT '{}',
    rows_total   bigint      NOT NULL DEFAULT 0,
    rows_copied  bigint      NOT NULL DEFAULT 0,
    rows_moving  bigint      NOT NULL DEFAULT 0,
    verified     text        NOT NULL DEFAULT '',
    pause_ms     bigint      NOT NULL DEFAULT 0,
    started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The cut-over's write freeze is held under a lease (lease.go): freeze_token
-- names the run that holds it, freeze_until is its deadline by this server's
-- clock (NULL: no freeze held). Added to catalogs made before the lease.
ALTER TABLE reshard ADD COLUMN IF NOT EXISTS freeze_token bigint NOT NULL DEFAULT 0;
ALTER TABLE reshard ADD COLUMN IF NOT EXISTS freeze_until timestamptz;
