-- The users table, identical on every shard. Applied by Postgres at first
-- start (/docker-entrypoint-initdb.d) and again, idempotently, by the api.
CREATE TABLE IF NOT EXISTS users (
    id         bigint      PRIMARY KEY,
    name       text        NOT NULL,
    email      text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every write takes the next number of this sequence as the row's version,
-- under the row lock, so versions order the writes to one user exactly, and
-- a user deleted then created again continues upwards. The cache compares
-- versions to refuse an older copy than the one it holds.
CREATE SEQUENCE IF NOT EXISTS users_version_seq;
ALTER TABLE users ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT nextval('users_version_seq');

-- Cache invalidations that failed (Redis did not answer) after their write
-- committed. While a shard has rows here, no replica trusts Redis for that
-- shard's users; any replica drains them into Redis as soon as it answers.
CREATE TABLE IF NOT EXISTS cache_outbox (
    user_id   bigint      NOT NULL,
    version   bigint      NOT NULL,
    queued_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (user_id, version)
);

-- The shard's fence against a shard map that has moved on (docs/sharding.md).
-- Every write names the map version it was routed with and takes this row
-- FOR KEY SHARE; a write from an older map than min_version, or any write
-- while frozen (the cut-over of a reshard), is refused, and the api follows
-- the map and tries again. Reads check min_version in the same statement.
CREATE TABLE IF NOT EXISTS shard_fence (
    id          int     PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    frozen      boolean NOT NULL DEFAULT false,
    min_version bigint  NOT NULL DEFAULT 0
);
INSERT INTO shard_fence (id) VALUES (1) ON CONFLICT DO NOTHING;
