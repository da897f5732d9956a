-- Releases a lease only if the caller holds this tenure (holder AND token match).
--
-- KEYS[1]  lease hash
-- ARGV[1]  holder
-- ARGV[2]  token (decimal string)
-- Returns 1 when released, 0 when the lease was not the caller's (or no longer live).
local h = redis.call('HMGET', KEYS[1], 'holder', 'token')
if h[1] == ARGV[1] and h[2] == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
