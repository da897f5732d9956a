-- Renews any number of leases in one round trip; each only if it is still the same tenure.
--
-- KEYS[i]      lease hash i
-- ARGV[3i-2]   holder i
-- ARGV[3i-1]   token i (decimal string)
-- ARGV[3i]     ttl i in milliseconds
-- Returns an array with 1 (renewed) or 0 (lost: expired, released or taken over) per key.
local out = {}
for i, key in ipairs(KEYS) do
  local b = (i - 1) * 3
  local h = redis.call('HMGET', key, 'holder', 'token')
  if h[1] == ARGV[b + 1] and h[2] == ARGV[b + 2] then
    redis.call('PEXPIRE', key, ARGV[b + 3])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
