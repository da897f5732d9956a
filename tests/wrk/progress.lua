-- POST /Sessions/Playing/Progress: the report every playing client sends every few seconds
-- (session now-playing state in Redis, the resume position in PostgreSQL). Cycles over the
-- items in HA_ITEM_IDS with a growing position.
--
-- Environment: HA_TOKEN, HA_ITEM_IDS (comma-separated).
package.path = (os.getenv("HA_WRK_DIR") or ".") .. "/?.lua;" .. package.path
local common = require("common")
common.auth()

local ids = common.list("HA_ITEM_IDS")
local n = 0
wrk.headers["Content-Type"] = "application/json"

function request()
  n = n + 1
  local body = string.format('{"ItemId":"%s","PositionTicks":%d,"IsPaused":false}',
    ids[(n % #ids) + 1], (n % 1000) * 10000000)
  return wrk.format("POST", "/Sessions/Playing/Progress", nil, body)
end

done = common.done
