-- Takes a lease when the key is free or its lease expired on the server's clock, in one
-- statement (no read-then-write race). The token is the largest of the sequence, the server
-- time in µs and the key's previous token + 1, so it never goes backwards.
-- $1 key, $2 holder, $3 ttl in ns (reported back), $4 ttl in µs rounded up (the deadline).
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
RETURNING token
