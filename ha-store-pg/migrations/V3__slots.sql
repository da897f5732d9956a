-- Transcode slots (SlotLimiter): one row per held slot. A slot counts while its expires_at is
-- ahead of the server's clock_timestamp(); a crashed holder's row simply stops counting.
-- Acquisitions of a pool are serialized by a transaction-level advisory lock (src/slots.rs
-- says why), so the pool needs no row of its own.
CREATE TABLE slots (
    pool       text COLLATE "C" NOT NULL,
    id         text COLLATE "C" NOT NULL,
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (pool, id)
);
-- Purging expired rows of pools nobody acquires from any more.
CREATE INDEX slots_expires ON slots (expires_at);
