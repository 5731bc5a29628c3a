-- The orders table, on its own server (pg-orders): vertical partitioning,
-- the guide's "Users on server A, Orders on server B". Applied by Postgres
-- at first start (/docker-entrypoint-initdb.d) and again, idempotently, by
-- the api.
--
-- There is no FOREIGN KEY (user_id) REFERENCES users: the users live on
-- other servers (the user shards), and a constraint cannot reach across
-- servers. That is the price of vertical partitioning: the database no
-- longer guarantees that an order's user exists, so the api checks that the
-- user exists before it inserts, and nothing removes a deleted user's
-- orders unless the application does it.
CREATE TABLE IF NOT EXISTS orders (
    id           bigint      PRIMARY KEY,  -- minted by the api (idgen), time-ordered
    user_id      bigint      NOT NULL,
    item         text        NOT NULL,
    quantity     int         NOT NULL CHECK (quantity > 0),
    amount_cents bigint      NOT NULL CHECK (amount_cents >= 0),
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- A user's orders, newest first, in one index range scan: ids are
-- time-ordered, so ORDER BY id DESC is ORDER BY creation.
CREATE INDEX IF NOT EXISTS orders_user_id_id ON orders (user_id, id);
