-- keep_resume: store a resume credential; a user's last two stay valid, an older one
-- goes (cluster/presence.py, RedisPresence.keep_resume).
-- KEYS[1] resume:<digest>          the credential
-- KEYS[2] resumes:<owner>          the credentials of a user in a company on a kind of
--                                  terminal, newest first
-- KEYS[3] resume-owners:<user>     the owners (app_id<US>user_id<US>company_id<US>mutex_type) with
--                                  credentials of app_id<US>user_id, for a kickout
-- ARGV[1] owner   app_id<US>user_id<US>company_id<US>mutex_type, the credential's owner
-- ARGV[2] ttl     how long it stays valid, in ms
-- ARGV[3] prefix  the credentials' key prefix (KEYS[1] without its digest)
-- Returns how many older credentials were removed.
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local digest = string.sub(KEYS[1], string.len(ARGV[3]) + 1)
redis.call('LPUSH', KEYS[2], digest)
local old = redis.call('LRANGE', KEYS[2], 2, -1)
for _, d in ipairs(old) do redis.call('DEL', ARGV[3] .. d) end
redis.call('LTRIM', KEYS[2], 0, 1)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
-- (never shortened: it outlives every credential it names, whatever ttl each was given)
redis.call('SADD', KEYS[3], ARGV[1])
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
end
return #old
