-- Takes any number of leases in one call (the store batches concurrent acquires, see
-- src/acquire_batch.rs), each only if nobody holds a live one, and issues its fencing token.
-- An entry with a stale tenure (stale token other than '0') is a take-over
-- (LeaseManager::take_over): the lease is also taken when the live tenure is exactly that
-- holder and token (the caller found its holder dead), compare-and-swap on the token, so
-- concurrent take-overs have one winner and the new token is larger. Entries run in order, as
-- separate calls would: a key named twice is taken by the first entry only.
--
-- A token is max(last issued + 1, server time in microseconds): it grows per key, and it
-- keeps growing after a restart that lost the counter, because the server clock moved on.
-- TIME is read once per call; the `last + 1` term keeps tokens of one key strictly growing
-- within a call too. It is also never below this incarnation's start (ARGV[1]), even if the
-- clock was stepped back since: job_claim.lua refuses tokens below the start on a missing
-- record, so a fresh tenure must never hold one. The start comes from the client, which asked
-- incarnation_start.lua once and asks again after a connection failure, because reading it
-- here (INFO server) would double the cost of every acquire. A stale value (the server
-- restarted and no call failed yet) is older, so the floor is only weaker: a token can then
-- fall below the new start only if the clock was stepped back by more than the new
-- incarnation's uptime, and the price is one refused claim (liveness), never a stale write.
--
-- KEYS[2i-1]   lease hash i (holder, token, ttl), expires with the lease
-- KEYS[2i]     the last token issued for lease i (same hash tag), outlives the lease
-- ARGV[1]      the incarnation's start in µs as the client knows it ('0' when unknown)
-- ARGV[5i-3]   holder i
-- ARGV[5i-2]   ttl i in milliseconds
-- ARGV[5i-1]   how long fence counter i is kept, in milliseconds
-- ARGV[5i]     (take-over) the holder of the tenure to replace ('' for a plain acquire)
-- ARGV[5i+1]   (take-over) its token as a decimal string ('0' for a plain acquire)
-- Returns an array with, per entry, the token as a decimal string, or '' when the lease is
-- held (by a tenure other than the stale one, for a take-over).
local t = redis.call('TIME')
local floor = tonumber(t[1]) * 1000000 + tonumber(t[2])
local start_us = tonumber(ARGV[1]) or 0
if start_us > floor then
  floor = start_us
end
local out = {}
for i = 1, #KEYS / 2 do
  local lease, fence = KEYS[2 * i - 1], KEYS[2 * i]
  local a = 5 * i - 3
  local free = redis.call('EXISTS', lease) == 0
  if not free and ARGV[a + 4] ~= '0' then
    local h = redis.call('HMGET', lease, 'holder', 'token')
    free = h[1] == ARGV[a + 3] and h[2] == ARGV[a + 4]
  end
  if free then
    local token = floor
    local last = tonumber(redis.call('GET', fence) or '0') or 0
    if last + 1 > token then
      token = last + 1
    end
    local s = string.format('%.0f', token)
    redis.call('HSET', lease, 'holder', ARGV[a], 'token', s, 'ttl', ARGV[a + 1])
    redis.call('PEXPIRE', lease, ARGV[a + 1])
    redis.call('SET', fence, s, 'PX', ARGV[a + 2])
    out[i] = s
  else
    out[i] = ''
  end
end
return out
