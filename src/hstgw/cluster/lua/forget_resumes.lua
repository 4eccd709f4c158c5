-- forget_resumes: every resume credential of an owner goes (a kickout: the user must
-- come back with a new token) (cluster/presence.py, RedisPresence.forget_resumes).
-- KEYS[1] resumes:<owner>  the owner's credentials
-- ARGV[1] prefix  the credentials' key prefix
-- Returns how many credentials were removed.
local held = redis.call('LRANGE', KEYS[1], 0, -1)
for _, d in ipairs(held) do redis.call('DEL', ARGV[1] .. d) end
redis.call('DEL', KEYS[1])
return #held
