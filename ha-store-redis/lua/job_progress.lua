-- Records a completed segment: fenced by token, and progress only moves forward.
--
-- KEYS[1]  the job hash
-- ARGV[1]  token (decimal string)   ARGV[2] segment   ARGV[3] retention in milliseconds
-- Returns {'ok', field, value, ...}, {'fenced', current_token} or {'missing'}.
local cur = redis.call('HMGET', KEYS[1], 'token', 'last_segment')
if not cur[1] then
  return {'missing'}
end
if cur[1] ~= ARGV[1] then
  return {'fenced', cur[1]}
end
local t = redis.call('TIME')
local now_ms = string.format('%.0f', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
if not cur[2] or tonumber(cur[2]) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'last_segment', ARGV[2])
end
redis.call('HSET', KEYS[1], 'updated_ms', now_ms)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local reply = redis.call('HGETALL', KEYS[1])
table.insert(reply, 1, 'ok')
return reply
