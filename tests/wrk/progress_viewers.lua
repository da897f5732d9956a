-- POST /Sessions/Playing/Progress as N viewers send it: each viewer is a session of its own
-- (its own device and token) and reports the item it plays, at a growing position. This is
-- the shape a server sees from real clients, and the one per-session coalescing is for
-- (progress.lua's single session reporting a new item each time defeats it by construction).
--
-- Environment:
--   HA_VIEWERS  comma-separated "k:token" (k: the viewer's index; it plays HA_ITEM_IDS[k],
--               cycling, from device "bench-viewer-k"). Give each wrk process its own viewers.
--   HA_ITEM_IDS comma-separated item ids.
--   HA_THREADS  this wrk's -t (default 1): thread t of T takes the viewers at list positions
--               t, t+T, t+2T, … so no two threads report for one session.
package.path = (os.getenv("HA_WRK_DIR") or ".") .. "/?.lua;" .. package.path
local common = require("common")

local next_thread = 0
function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

local ids = common.list("HA_ITEM_IDS")
local threads = tonumber(os.getenv("HA_THREADS") or "1")
local mine = {}

function init(args)
  local index = thread_index or 0
  for i, entry in ipairs(common.list("HA_VIEWERS")) do
    if (i - 1) % threads == index then
      local k, token = string.match(entry, "^(%d+):(.+)$")
      k = tonumber(k)
      table.insert(mine, {
        headers = {
          ["Authorization"] = common.auth_value("bench-viewer-" .. k, token),
          ["Content-Type"] = "application/json",
        },
        item = ids[(k % #ids) + 1],
        reports = 0,
      })
    end
  end
end

local n = 0

function request()
  local v = mine[(n % #mine) + 1]
  n = n + 1
  v.reports = v.reports + 1
  -- A growing position: 1 s of media per report (ticks are 100 ns).
  local body = string.format('{"ItemId":"%s","PositionTicks":%d,"IsPaused":false}',
    v.item, v.reports * 10000000)
  return wrk.format("POST", "/Sessions/Playing/Progress", v.headers, body)
end

done = common.done
