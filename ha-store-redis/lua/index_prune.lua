-- Drops index entries whose record is gone, unless they were re-added meanwhile.
--
-- The caller saw each member's record missing; a concurrent writer may have re-created the
-- record and re-indexed it since, with a new score. Removing only members whose score is
-- still the one the caller saw keeps that writer's entry.
--
-- KEYS[1]      the index (sorted set)
-- ARGV[2i-1]   member i      ARGV[2i] the score the caller saw for it
-- Returns how many members were removed.
local removed = 0
for i = 1, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
