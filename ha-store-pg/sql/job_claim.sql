-- Creates a job record or hands it to the claimant, in one statement. Accepted when no live
-- record exists or the claim's token is at least the record's (equal: the same tenure
-- restarting elsewhere). A record past its retention counts as absent (fresh attempts and
-- creation time). No row back means the record holds a newer token: fenced.
-- $1 key, $2 source, $3 profile, $4 owner_node, $5 owner_addr, $6 token, $7 start_segment,
-- $8 retention in µs. (jobs.rs appends the RETURNING column list.)
INSERT INTO transcode_jobs AS j
       (key, source, profile, owner_node, owner_addr, token, start_segment, last_segment,
        state, attempts, failure, created_ms, updated_ms, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, 'running', 1, NULL,
        (extract(epoch FROM clock_timestamp()) * 1000)::bigint,
        (extract(epoch FROM clock_timestamp()) * 1000)::bigint,
        clock_timestamp() + $8::bigint * interval '1 microsecond')
ON CONFLICT (key) DO UPDATE SET
    source = EXCLUDED.source,
    profile = EXCLUDED.profile,
    owner_node = EXCLUDED.owner_node,
    owner_addr = EXCLUDED.owner_addr,
    token = EXCLUDED.token,
    start_segment = EXCLUDED.start_segment,
    last_segment = NULL,
    state = 'running',
    failure = NULL,
    attempts = CASE
        WHEN j.expires_at <= clock_timestamp() THEN 1
        WHEN j.token = EXCLUDED.token THEN j.attempts
        ELSE j.attempts + 1
    END,
    created_ms = CASE
        WHEN j.expires_at <= clock_timestamp() THEN EXCLUDED.created_ms
        ELSE j.created_ms
    END,
    updated_ms = EXCLUDED.updated_ms,
    expires_at = EXCLUDED.expires_at
WHERE j.expires_at <= clock_timestamp() OR j.token <= EXCLUDED.token
RETURNING 