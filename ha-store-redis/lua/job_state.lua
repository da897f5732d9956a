-- Moves a job to another state (with an optional failure reason), fenced by token.
--
-- KEYS[1]  the job hash
-- ARGV[1]  token (decimal string)   ARGV[2] state
-- ARGV[3]  '1' when a failure reason follows, else '0'   ARGV[4] failure reason
-- ARGV[5]  retention in milliseconds
-- Returns {'ok', field, value, ...}, {'fenced', current_token} or {'missing'}.
local cur = redis.call('HGET', KEYS[1], 'token')
if not cur then
  return {'missing'}
end
if cur ~= ARGV[1] then
  return {'fenced', cur}
end
local t = redis.call('TIME')
local now_ms = string.format('%.0f', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'updated_ms', now_ms)
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], 'failure', ARGV[4])
else
  redis.call('HDEL', KEYS[1], 'failure')
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
local reply = redis.call('HGETALL', KEYS[1])
table.insert(reply, 1, 'ok')
return reply
