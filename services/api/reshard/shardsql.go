package reshard

import "scalelab/services/api/shardmap"

// shardSchema is what a reshard adds to every shard it touches, beside the
// users schema; cleanup drops it all again.
//
//   - reshard_changes: ids written on an old shard since the copy began (a
//     trigger notes them; seq orders the notes, so that removing a note
//     after copying the row cannot remove a newer note of the same id).
//   - reshard_move (on an old shard): the ids that leave it, and for which
//     new shard; reshard_in (on a new shard): the ids that arrive, from
//     which old shard. Verification and cleanup read them.
//   - reshard_dirty (on an old shard): the ids the catch-up copied since the
//     full verification began, which the cut-over checks again (verify.go).
const shardSchema = `
CREATE SEQUENCE IF NOT EXISTS reshard_changes_seq;
CREATE TABLE IF NOT EXISTS reshard_changes (id bigint PRIMARY KEY, seq bigint NOT NULL);
CREATE TABLE IF NOT EXISTS reshard_move (id bigint PRIMARY KEY, target int NOT NULL);
CREATE TABLE IF NOT EXISTS reshard_in (id bigint PRIMARY KEY, source int NOT NULL);
CREATE TABLE IF NOT EXISTS reshard_dirty (id bigint PRIMARY KEY);
CREATE OR REPLACE FUNCTION reshard_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO reshard_changes (id, seq)
	VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END, nextval('reshard_changes_seq'))
	ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq;
	RETURN NULL;
END $$;
` + shardmap.ShardFreezeSchema

// noteChanges installs the trigger on an old shard. The reshard's own
// connections run with session_replication_role = replica, which skips
// ordinary triggers: its copies are not changes.
const noteChanges = `
CREATE OR REPLACE TRIGGER reshard_note AFTER INSERT OR UPDATE OR DELETE ON users
	FOR EACH ROW EXECUTE FUNCTION reshard_note();
`

const dropShardSchema = `
DROP TRIGGER IF EXISTS reshard_note ON users;
DROP FUNCTION IF EXISTS reshard_note();
DROP TABLE IF EXISTS reshard_changes, reshard_move, reshard_in, reshard_dirty, reshard_freeze;
DROP SEQUENCE IF EXISTS reshard_changes_seq;
`

// rowHash is the checksum of one user row: every column, so that a copy
// that differs in any of them differs in the sum.
const rowHash = `hashtextextended(concat_ws('|', u.id, u.name, u.email, u.created_at, u.updated_at, u.version), 0)::numeric`

const userCols = `id, name, email, created_at, updated_at, version`

// upsertUsers writes rows to a new shard as they are on the old one,
// versions and timestamps included.
const upsertUsers = `
INSERT INTO users (` + userCols + `)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::bigint[])
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email,
	created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, version = EXCLUDED.version`
