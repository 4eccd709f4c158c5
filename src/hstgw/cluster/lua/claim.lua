-- claim: put a terminal online (cluster/presence.py, RedisPresence.claim).
-- KEYS[1] on:<app>      the app's online terminals
-- KEYS[2] u:<app>:<user> the user's terminals
-- KEYS[3] off:<app>     the app's recently offline terminals
-- KEYS[4] node:<node>   what this node holds
-- KEYS[5] lease:<node>  the node's lease (passed, not used)
-- KEYS[6] kicked:<bucket> (a login by resume only) the mark of the last kickout in the
--                       user's kick_bucket, which must still be ARGV[7]: a kickout forgets
--                       credentials before it lists terminals, so one since the
--                       credential's check missed this
-- ARGV[1] field   user_id<US>mutex_type
-- ARGV[2] mutex   mutex_type
-- ARGV[3] entry   the terminal's entry (JSON)
-- ARGV[4] force   '1': take the place of a terminal already there
-- ARGV[5] use_limit  the app's cap on online terminals, -1: none
-- ARGV[6] member  app_id<US>user_id<US>mutex_type, for the node's set
-- ARGV[7] kicked  (with KEYS[6]) the mark read with the credential ('' if none)
-- Returns {status (0 taken, 1 already online, 2 over use_limit, 3 kicked out since),
-- older entry or '', count}.
if KEYS[6] and (redis.call('GET', KEYS[6]) or '') ~= ARGV[7] then
  return {3, '', 0}
end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and ARGV[4] ~= '1' then return {1, cur, 0} end
if not cur and tonumber(ARGV[5]) >= 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[5]) then
  return {2, '', 0}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[6])
return {0, cur or '', redis.call('HLEN', KEYS[1])}
