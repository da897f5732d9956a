-- Shared by the wrk scripts of tests/server_load.rs and the bench harness (benches/harness/server/).
--
-- Why a summary line of our own: wrk's text output rounds latencies and folds every error
-- kind into one line; `done` prints one `HA_WRK {json}` line with the exact counts (requests,
-- connect/read/write/timeout socket errors, non-2xx/3xx statuses) and p50/p99/max in µs,
-- which the Rust side parses (tests/support/load/wrk.rs).
--
-- Environment: HA_TOKEN (access token; absent: no token, e.g. for /health).
local M = {}

-- The Jellyfin-style authorization header of a client on `device` with `token` (nil: none).
function M.auth_value(device, token)
  local value = 'MediaBrowser Client="media-ha wrk", Device="wrk", DeviceId="' .. device ..
    '", Version="1.0"'
  if token ~= nil and token ~= "" then
    value = value .. ', Token="' .. token .. '"'
  end
  return value
end

-- Sets the authorization header every request of this thread carries (HA_TOKEN).
function M.auth()
  wrk.headers["Authorization"] = M.auth_value("wrk-load", os.getenv("HA_TOKEN"))
end

-- Splits "a,b,c" into a list (empty entries dropped).
function M.list(env_name)
  local out = {}
  for part in string.gmatch(os.getenv(env_name) or "", "[^,]+") do
    table.insert(out, part)
  end
  return out
end

-- wrk's `done` hook: one parseable line.
function M.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'HA_WRK {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end

return M
