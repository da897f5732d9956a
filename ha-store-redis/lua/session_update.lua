-- Replaces a session only while it is live; never creates one (a report racing a sign-out
-- must not bring the signed-out token back).
--
-- KEYS[1]  the session hash: 'json' (the session) and 'touched_ms' (last touch, server clock)
-- ARGV[1]  the session as JSON    ARGV[2] ttl in milliseconds
-- Returns 1 when the session was live and is replaced, 0 otherwise (nothing written).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
-- The JSON carries the caller's last activity; a stale touch stamp must not override it.
redis.call('HDEL', KEYS[1], 'touched_ms')
redis.call('HSET', KEYS[1], 'json', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
