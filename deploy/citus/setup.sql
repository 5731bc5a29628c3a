-- Run once by citus-setup against the coordinator (idempotent: a second
-- run changes nothing).
SELECT citus_set_coordinator_host('citus-coordinator', 5432);
SELECT citus_add_node('citus-worker-1', 5432);
SELECT citus_add_node('citus-worker-2', 5432);

-- The api's own schema, unchanged.
\i /setup/schema.sql

-- Distribute by the id the api already shards on; cache_outbox by the same
-- key, co-located, so that a write and its outbox row commit on one node.
SELECT create_distributed_table('users', 'id', shard_count => 32)
  WHERE NOT EXISTS (SELECT 1 FROM citus_tables WHERE table_name = 'users'::regclass);
SELECT create_distributed_table('cache_outbox', 'user_id', colocate_with => 'users')
  WHERE NOT EXISTS (SELECT 1 FROM citus_tables WHERE table_name = 'cache_outbox'::regclass);
