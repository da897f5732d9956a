-- Shared prelude (prepended to job_claim.lua and lease_acquire.lua by src/scripts.rs): the
-- start of this Redis incarnation, in microseconds on the server clock.
--
-- Why: a Redis without persistence that restarts comes back empty, and with the job records
-- goes their memory of the newest fencing token. Every token *this* incarnation issues is at
-- least its start time in µs (lease_acquire.lua issues max(last + 1, now_us, start_us)), so a
-- token below the start belongs to a lease the restart already lost: a claim with it must not
-- create a record. Nothing else in a fresh data set can tell a stale token from a new one.
--
-- How: INFO server gives `uptime_in_seconds` = unixtime - stat_starttime and
-- `server_time_usec` = the cached clock that unixtime is the whole seconds of (one update sets
-- both), so floor(server_time_usec / 1e6) - uptime_in_seconds is exactly stat_starttime, the
-- `time(NULL)` Redis took while starting, before it served anything: a lower bound of the true
-- start, truncated to the second. Older servers without `server_time_usec` fall back to
-- TIME - uptime - 1 s (TIME may be up to a second ahead of the cached clock uptime uses).
--
-- Clock edge cases (see docs/RELIABILITY.md, "Redis without persistence forgets job fences"):
-- * Granularity: the start is known to the second, rounded down. Tokens issued by the previous
--   incarnation in the last [0, 1) s before the new start second still pass. A lease that had
--   already expired before the restart was acquired at least its TTL before, so with TTLs of
--   1 s or more its token is always refused.
-- * Clock stepped forward across the restart: the start moves up, older tokens stay below it.
-- * Clock stepped backward across the restart (by more than the downtime): old tokens may lie
--   above the new start and pass, as before this check; the lease tokens themselves are
--   equally exposed then (they follow the clock). Keep the Redis host on NTP slewing.
-- * Clock stepped backward while this incarnation runs: uptime is wall-clock based, so the
--   computed start does not move, while TIME falls below it; lease_acquire.lua therefore never
--   issues a token below the start, so fresh claims are never refused for it.
-- * Data lost without a restart (FLUSHALL, eviction under a maxmemory policy other than
--   noeviction, a replica promoted before it received the newest record): not detected.
-- * A replica promoted by Sentinel that *started* after a still-live lease was issued refuses
--   that holder's first claim (it is fenced and gives the job up; the next tenure claims with a
--   fresh token). Safe, costs one tenure.
local function incarnation_start_us()
  local info = redis.call('INFO', 'server')
  local uptime = tonumber(string.match(info, 'uptime_in_seconds:(%d+)'))
  if not uptime then
    return 0
  end
  local clock_us = tonumber(string.match(info, 'server_time_usec:(%d+)') or '')
  local start_s
  if clock_us then
    start_s = math.floor(clock_us / 1000000) - uptime
  else
    start_s = tonumber(redis.call('TIME')[1]) - uptime - 1
  end
  if start_s < 0 then
    return 0
  end
  return start_s * 1000000
end

