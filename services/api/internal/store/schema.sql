-- The users table, identical on every shard. Applied by Postgres at first
-- start (/docker-entrypoint-initdb.d) and again, idempotently, by the api.
CREATE TABLE IF NOT EXISTS users (
    id         bigint      PRIMARY KEY,
    name       text        NOT NULL,
    email      text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
