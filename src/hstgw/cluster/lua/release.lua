-- release: take a terminal offline (cluster/presence.py, RedisPresence.release_where),
-- only if its entry is still the one of that node or login; by node, only while that
-- node's lease is still missing (it may have just come back and claimed).
-- KEYS[1] on:<app>      the app's online terminals
-- KEYS[2] u:<app>:<user> the user's terminals
-- KEYS[3] off:<app>     the app's recently offline terminals
-- KEYS[4] node:<node>   what the node holds
-- KEYS[5] lease:<node>  the node's lease
-- ARGV[1] field   user_id<US>mutex_type
-- ARGV[2] mutex   mutex_type
-- ARGV[3] which   the entry's item compared: '4' its node, '5' its conn
-- ARGV[4] value   what that item must be
-- ARGV[5] since   now, in ms (when it went offline)
-- ARGV[6] retention  how long it stays listed offline, in ms (0: not listed)
-- ARGV[7] member  app_id<US>user_id<US>mutex_type, in the node's set
-- Returns the entry taken offline, or ''.
if ARGV[3] == '4' and redis.call('EXISTS', KEYS[5]) == 1 then return '' end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then redis.call('SREM', KEYS[4], ARGV[7]) return '' end
local e = cjson.decode(cur)
if e[tonumber(ARGV[3])] ~= ARGV[4] then return '' end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('SREM', KEYS[4], ARGV[7])
if tonumber(ARGV[6]) > 0 then
  redis.call('HSET', KEYS[3], ARGV[1], cjson.encode({e[1], e[2], tonumber(ARGV[5])}))
  redis.call('PEXPIRE', KEYS[3], ARGV[6])
end
return cur
