-- Creates a job record or hands it to a claimant whose token is not older.
--
-- When no record exists, a token older than this Redis incarnation's start is refused
-- (`incarnation_start_us`, prepended from incarnation.lua, explains why and the clock edge
-- cases): after a restart that lost the data set, the record of a newer tenure is gone, and a
-- holder whose lease the restart lost must not re-create it. The reply then carries the start
-- as the current token.
--
-- KEYS[1]  the job hash
-- ARGV[1]  job key          ARGV[2] source        ARGV[3] profile     ARGV[4] owner node
-- ARGV[5]  '1' when an owner address follows, else '0'              ARGV[6] owner address
-- ARGV[7]  token (decimal u64 string, no leading zeros)             ARGV[8] start segment
-- ARGV[9]  retention in milliseconds
-- Returns {'ok', field, value, ...} or {'fenced', current_token}.
-- Tokens are lease tokens from lease_acquire.lua on the same server (µs-based).

-- Tokens are u64 and may exceed 2^53, where Lua numbers lose precision: compare the decimal
-- strings instead (a longer one is larger; equal lengths compare lexically).
local function cmp(a, b)
  if #a ~= #b then
    return #a < #b and -1 or 1
  end
  if a == b then
    return 0
  end
  return a < b and -1 or 1
end

local t = redis.call('TIME')
local now_ms = string.format('%.0f', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
local cur = redis.call('HMGET', KEYS[1], 'token', 'attempts', 'created_ms')
local attempts = 1
local created = now_ms
if cur[1] then
  local c = cmp(ARGV[7], cur[1])
  if c < 0 then
    return {'fenced', cur[1]}
  end
  attempts = tonumber(cur[2]) or 1
  if c > 0 then
    attempts = attempts + 1
  end
  created = cur[3] or now_ms
else
  local start = string.format('%.0f', incarnation_start_us())
  if cmp(ARGV[7], start) < 0 then
    return {'fenced', start}
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1],
  'key', ARGV[1], 'source', ARGV[2], 'profile', ARGV[3], 'owner_node', ARGV[4],
  'token', ARGV[7], 'start_segment', ARGV[8], 'state', 'running',
  'attempts', string.format('%d', attempts), 'created_ms', created, 'updated_ms', now_ms)
if ARGV[5] == '1' then
  redis.call('HSET', KEYS[1], 'owner_addr', ARGV[6])
end
redis.call('PEXPIRE', KEYS[1], ARGV[9])
local reply = redis.call('HGETALL', KEYS[1])
table.insert(reply, 1, 'ok')
return reply
