-- forget_resumes: every resume credential of a user in an app, in every company, goes
-- (a kickout: the user must come back with a new token), and the kickout is marked
-- (cluster/presence.py, RedisPresence.forget_resumes).
-- KEYS[1] resume-owners:<user>  the owners holding credentials of app_id<US>user_id
-- KEYS[2] kicked:<bucket>       the mark of the last kickout in the user's kick_bucket
--                               (claim.lua compares)
-- ARGV[1] prefix   the credentials' key prefix (resume:)
-- ARGV[2] lists    the owners' lists' key prefix (resumes:)
-- ARGV[3] kept     how long the mark is kept, in ms
-- ARGV[4] mark     this kickout's mark, never given before (random)
-- Returns how many credentials were removed.
local removed = 0
for _, owner in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local held = redis.call('LRANGE', ARGV[2] .. owner, 0, -1)
  for _, d in ipairs(held) do redis.call('DEL', ARGV[1] .. d) end
  redis.call('DEL', ARGV[2] .. owner)
  removed = removed + #held
end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3])
return removed
