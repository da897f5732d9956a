-- Reads a live lease and its remaining time in one atomic step.
--
-- KEYS[1]  lease hash
-- Returns {holder, token, ttl_ms, pttl_ms}, or false when no lease is live.
local h = redis.call('HMGET', KEYS[1], 'holder', 'token', 'ttl')
if not h[1] then
  return false
end
local pttl = redis.call('PTTL', KEYS[1])
if pttl < 0 then
  return false
end
return {h[1], h[2], h[3] or '0', pttl}
