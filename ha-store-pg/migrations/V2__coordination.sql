-- Coordination: leases, transcode job records, sessions. Every expiry is a timestamptz judged
-- against the server's clock_timestamp(), never a time sent by a client.

-- Fencing tokens: max(nextval, server time in µs, previous token of the key + 1), so they never
-- go backwards, also after this table was lost (the clock has moved on) or the clock stepped
-- back (the sequence and the per-key row have not).
CREATE SEQUENCE lease_tokens;

-- A released lease keeps its row (expired) so the key's next token is still above it; rows
-- expired for a day are purged opportunistically.
CREATE TABLE leases (
    key        text COLLATE "C" PRIMARY KEY,
    holder     text NOT NULL,
    token      bigint NOT NULL,
    ttl_ns     bigint NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX leases_expires ON leases (expires_at);

CREATE TABLE transcode_jobs (
    key           text COLLATE "C" PRIMARY KEY,
    source        text NOT NULL,
    profile       text NOT NULL,
    owner_node    text NOT NULL,
    owner_addr    text,
    token         bigint NOT NULL,
    start_segment bigint NOT NULL,
    last_segment  bigint,
    state         text NOT NULL,
    attempts      bigint NOT NULL,
    failure       text,
    created_ms    bigint NOT NULL,
    updated_ms    bigint NOT NULL,
    -- Last write + the writer's retention; rows past it are invisible and purged lazily.
    expires_at    timestamptz NOT NULL
);
CREATE INDEX transcode_jobs_expires ON transcode_jobs (expires_at);

CREATE TABLE sessions (
    token_hash       text COLLATE "C" PRIMARY KEY,
    id               text NOT NULL,
    user_id          text NOT NULL,
    user_name        text NOT NULL,
    device_id        text NOT NULL,
    device_name      text NOT NULL,
    client           text NOT NULL,
    client_version   text NOT NULL,
    now_playing      jsonb,
    created_ms       bigint NOT NULL,
    last_activity_ms bigint NOT NULL,
    expires_at       timestamptz NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
