-- Extends a live slot held by the caller.
--
-- KEYS[1]  the pool (sorted set)   KEYS[2] the holders (hash)
-- ARGV[1]  slot id   ARGV[2] holder   ARGV[3] ttl in milliseconds
-- Returns 1 when renewed, 0 when the slot expired, was released or is not the caller's.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) <= now or redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then
  return 0
end
local deadline = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], string.format('%.0f', deadline), ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local until_ms = string.format('%.0f', tonumber(last[2]) + 1000)
redis.call('PEXPIREAT', KEYS[1], until_ms)
redis.call('PEXPIREAT', KEYS[2], until_ms)
return 1
