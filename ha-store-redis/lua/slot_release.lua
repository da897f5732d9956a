-- Gives a slot back if the caller holds it.
--
-- KEYS[1]  the pool (sorted set)   KEYS[2] the holders (hash)
-- ARGV[1]  slot id   ARGV[2] holder
-- Returns 1 when a live slot was released, 0 otherwise.
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if score and tonumber(score) > now then
  return 1
end
return 0
