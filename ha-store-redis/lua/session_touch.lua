-- Extends a live session and stamps its last activity with the server clock.
--
-- KEYS[1]  the session hash     ARGV[1] ttl in milliseconds
-- Returns 1 when the session was live, 0 otherwise.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local t = redis.call('TIME')
local now_ms = string.format('%.0f', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
redis.call('HSET', KEYS[1], 'touched_ms', now_ms)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
