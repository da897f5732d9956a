-- GET /Items/{id}: one item with the caller's user data (a details page), cycling over the
-- ids in HA_ITEM_IDS so the requests do not all hit one row.
--
-- Environment: HA_TOKEN, HA_ITEM_IDS (comma-separated).
package.path = (os.getenv("HA_WRK_DIR") or ".") .. "/?.lua;" .. package.path
local common = require("common")
common.auth()

local ids = common.list("HA_ITEM_IDS")
local n = 0

function request()
  n = n + 1
  return wrk.format("GET", "/Items/" .. ids[(n % #ids) + 1])
end

done = common.done
