-- Stores (or replaces) a session for ttl milliseconds.
--
-- KEYS[1]  the session hash: 'json' (the session) and 'touched_ms' (last touch, server clock)
-- ARGV[1]  the session as JSON    ARGV[2] ttl in milliseconds
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'json', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
