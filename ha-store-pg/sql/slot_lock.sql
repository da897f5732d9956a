-- Serializes the writers of one pool until the end of the transaction (commit, rollback or a
-- dropped connection all release it, so it cannot leak into the connection pool). Advisory
-- locks are database-wide: the key includes the schema so deployments sharing a database do not
-- wait for each other. A 64-bit hash collision only makes two pools wait for each other.
-- $1 schema, $2 pool.
SELECT pg_advisory_xact_lock(hashtextextended('media-ha slots ' || $1 || ':' || $2, 0))
