-- Takes a slot of a pool when fewer than `capacity` live slots are held, judged by the server's
-- clock, and drops the pool's expired rows on the way. Runs in a transaction right after
-- slot_lock.sql, in a statement of its own so its snapshot sees every slot committed by the
-- previous holder of the lock. No row back means the pool is full.
-- $1 pool, $2 slot id, $3 holder, $4 capacity, $5 ttl in µs rounded up.
WITH expired AS (
    DELETE FROM slots WHERE pool = $1 AND expires_at <= clock_timestamp()
), live AS (
    SELECT count(*) AS n FROM slots WHERE pool = $1 AND expires_at > clock_timestamp()
)
INSERT INTO slots (pool, id, holder, expires_at)
SELECT $1, $2, $3, clock_timestamp() + $5::bigint * interval '1 microsecond'
  FROM live
 WHERE live.n < $4::bigint
RETURNING id
