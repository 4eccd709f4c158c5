-- retain: note a developer's token login; past its last `limit`, the oldest one's state
-- goes (cluster/presence.py, RedisPresence.retain; online/presence.py, Presence.retain).
-- KEYS[1] retained:<dev>       the developer's token logins, oldest first (JSON arrays:
--                              [used key, owner, app_id, user_id<US>mutex_type])
-- KEYS[2] retained-refs:<dev>  'o'..owner, 't'..app_id<US>user_id<US>mutex_type -> how
--                              many of the logins kept hold it
-- ARGV[1] login    this login, as KEYS[1] holds them
-- ARGV[2] limit    how many logins are kept
-- ARGV[3] used     the used tokens' key prefix (used:)
-- ARGV[4] resume   the credentials' key prefix (resume:)
-- ARGV[5] resumes  the owners' lists' key prefix (resumes:)
-- ARGV[6] owners   the users' owners' sets' key prefix (resume-owners:)
-- ARGV[7] off      the apps' offline hashes' key prefix (off:)
-- ARGV[8] kept     how long both keys outlive the developer's last token login, in ms
-- Returns how many logins' state went.
local function unref(field)
  if redis.call('HINCRBY', KEYS[2], field, -1) > 0 then return false end
  redis.call('HDEL', KEYS[2], field)
  return true
end
local new = cjson.decode(ARGV[1])
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[2], 'o' .. new[2], 1)
redis.call('HINCRBY', KEYS[2], 't' .. new[3] .. '\31' .. new[4], 1)
local over = redis.call('LLEN', KEYS[1]) - tonumber(ARGV[2])
for _ = 1, over do
  local old = cjson.decode(redis.call('LPOP', KEYS[1]))
  local used, owner, app, field = old[1], old[2], old[3], old[4]
  if used ~= '' then redis.call('DEL', ARGV[3] .. used) end
  if unref('o' .. owner) then
    for _, d in ipairs(redis.call('LRANGE', ARGV[5] .. owner, 0, -1)) do
      redis.call('DEL', ARGV[4] .. d)
    end
    redis.call('DEL', ARGV[5] .. owner)
    redis.call('SREM', ARGV[6] .. string.match(owner, '^([^\31]*\31[^\31]*)'), owner)
  end
  if unref('t' .. app .. '\31' .. field) then redis.call('HDEL', ARGV[7] .. app, field) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[8])
redis.call('PEXPIRE', KEYS[2], ARGV[8])
return math.max(over, 0)
