-- Takes a slot of a pool if fewer than `capacity` live slots are held.
--
-- Slots are members of a sorted set scored by their deadline on the server clock (ms);
-- expired ones are pruned here, so a crashed holder's capacity comes back by itself.
--
-- KEYS[1]  the pool (sorted set id -> deadline)   KEYS[2] the holders (hash id -> holder)
-- ARGV[1]  new slot id   ARGV[2] holder   ARGV[3] capacity   ARGV[4] ttl in milliseconds
-- Returns 1 when the slot was taken, 0 when the pool is full.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[4])), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
-- The pool keys live as long as their longest slot, so an abandoned pool disappears.
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local until_ms = string.format('%.0f', tonumber(last[2]) + 1000)
redis.call('PEXPIREAT', KEYS[1], until_ms)
redis.call('PEXPIREAT', KEYS[2], until_ms)
return 1
