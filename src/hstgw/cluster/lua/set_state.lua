-- set_state: replace a terminal's entry if it is still the same login
-- (cluster/presence.py, RedisPresence.set_state).
-- KEYS[1] on:<app>      the app's online terminals
-- KEYS[2] u:<app>:<user> the user's terminals
-- ARGV[1] field   user_id<US>mutex_type
-- ARGV[2] mutex   mutex_type
-- ARGV[3] conn    the login's connection id
-- ARGV[4] entry   the new entry (JSON)
-- Returns 1 if replaced, 0 if that login is no longer online.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or cjson.decode(cur)[5] ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
return 1
