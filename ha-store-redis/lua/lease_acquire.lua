-- Takes a lease if nobody holds a live one, and issues its fencing token. With ARGV[5] and
-- ARGV[6] it is a take-over (LeaseManager::take_over): the lease is also taken when the live
-- tenure is exactly that holder and token (the caller found its holder dead), compare-and-swap
-- on the token, so concurrent take-overs have one winner and the new token is larger.
--
-- The token is max(last issued + 1, server time in microseconds): it grows per key, and it
-- keeps growing after a restart that lost the counter, because the server clock moved on.
-- It is also never below this incarnation's start (ARGV[4]), even if the clock was stepped
-- back since: job_claim.lua refuses tokens below the start on a missing record, so a fresh
-- tenure must never hold one. The start comes from the client, which asked
-- incarnation_start.lua once and asks again after a connection failure, because reading it
-- here (INFO server) would double the cost of every acquire. A stale value (the server
-- restarted and no call failed yet) is older, so the floor is only weaker: a token can then
-- fall below the new start only if the clock was stepped back by more than the new
-- incarnation's uptime, and the price is one refused claim (liveness), never a stale write.
--
-- KEYS[1]  the lease hash (holder, token, ttl), expires with the lease
-- KEYS[2]  the last token issued for this key (same hash tag), outlives the lease
-- ARGV[1]  holder
-- ARGV[2]  ttl in milliseconds
-- ARGV[3]  how long the fence counter is kept, in milliseconds
-- ARGV[4]  the incarnation's start in µs as the client knows it ('0' when unknown)
-- ARGV[5]  (take-over only) the holder of the tenure to replace
-- ARGV[6]  (take-over only) its token (decimal string)
-- Returns the token as a decimal string, or false when the lease is held (by a tenure other
-- than ARGV[5]/ARGV[6], for a take-over).
if redis.call('EXISTS', KEYS[1]) == 1 then
  if ARGV[5] == nil then
    return false
  end
  local h = redis.call('HMGET', KEYS[1], 'holder', 'token')
  if h[1] ~= ARGV[5] or h[2] ~= ARGV[6] then
    return false
  end
end
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local last = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local token = now_us
local start_us = tonumber(ARGV[4] or '0') or 0
if start_us > token then
  token = start_us
end
if last + 1 > token then
  token = last + 1
end
local s = string.format('%.0f', token)
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'token', s, 'ttl', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], s, 'PX', ARGV[3])
return s
