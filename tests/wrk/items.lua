-- GET /Users/{id}/Items, paged: what a client's library grid sends while scrolling. Each
-- request asks for the next page (StartIndex = k * HA_PAGE_SIZE, cycling over HA_PAGES pages)
-- of every movie sorted by name, so the metadata store does the paging and sorting.
--
-- Environment: HA_TOKEN, HA_USER_ID, HA_PAGE_SIZE (default 20), HA_PAGES (default 5).
package.path = (os.getenv("HA_WRK_DIR") or ".") .. "/?.lua;" .. package.path
local common = require("common")
common.auth()

local user = os.getenv("HA_USER_ID") or ""
local size = tonumber(os.getenv("HA_PAGE_SIZE") or "20")
local pages = tonumber(os.getenv("HA_PAGES") or "5")
local n = 0

function request()
  local start = (n % pages) * size
  n = n + 1
  return wrk.format("GET", "/Users/" .. user ..
    "/Items?Recursive=true&IncludeItemTypes=Movie&SortBy=SortName&SortOrder=Ascending" ..
    "&StartIndex=" .. start .. "&Limit=" .. size)
end

done = common.done
