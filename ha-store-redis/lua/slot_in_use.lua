-- Counts the live slots of a pool (deadline after now on the server clock).
--
-- KEYS[1]  the pool (sorted set)
-- Returns the count.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. string.format('%.0f', now), '+inf')
