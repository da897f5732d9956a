-- Renews many leases in one statement: each (key, holder, token) still current and live on the
-- server's clock gets a new deadline of its own TTL from now. Returns the renewed ones.
-- $1 keys, $2 holders, $3 tokens, $4 ttls in ns, $5 ttls in µs rounded up.
UPDATE leases AS l
   SET expires_at = clock_timestamp() + want.ttl_us * interval '1 microsecond',
       ttl_ns = want.ttl_ns
  FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[])
       AS want (key, holder, token, ttl_ns, ttl_us)
 WHERE l.key = want.key
   AND l.holder = want.holder
   AND l.token = want.token
   AND l.expires_at > clock_timestamp()
RETURNING l.key, l.holder, l.token
