-- Takes a lease over from a holder the caller found dead (LeaseManager::take_over): as
-- lease_acquire.sql, but the live lease is replaced too when it is still exactly the tenure
-- the caller saw ($5 holder, $6 token). Compare-and-swap on the token in one statement, so of
-- several replicas taking over at once one wins, and the new token is larger than the old.
-- $1 key, $2 holder, $3 ttl in ns (reported back), $4 ttl in µs rounded up, $5 stale holder,
-- $6 stale token.
INSERT INTO leases AS l (key, holder, token, ttl_ns, expires_at)
VALUES ($1, $2,
        GREATEST(nextval('lease_tokens'),
                 (extract(epoch FROM clock_timestamp()) * 1000000)::bigint),
        $3,
        clock_timestamp() + $4::bigint * interval '1 microsecond')
ON CONFLICT (key) DO UPDATE
   SET holder = EXCLUDED.holder,
       token = GREATEST(EXCLUDED.token, l.token + 1),
       ttl_ns = EXCLUDED.ttl_ns,
       expires_at = EXCLUDED.expires_at
 WHERE l.expires_at <= clock_timestamp()
    OR (l.holder = $5 AND l.token = $6)
RETURNING token
