-- GET /health: the server's HTTP stack with no store behind it (router, middleware, one small
-- text body). The upper bound the API endpoints are compared with.
package.path = (os.getenv("HA_WRK_DIR") or ".") .. "/?.lua;" .. package.path
local common = require("common")

wrk.method = "GET"
wrk.path = "/health"
done = common.done
