-- remember_invite: note a pending invite (cluster/presence.py,
-- RedisPresence.remember_invite). A pending invite of another inviter is not taken
-- over; the app's oldest go past its cap, the developer's oldest (in any of its apps)
-- past its invitees' cap.
-- KEYS[1] inv:<app>   field -> [inviter, [invitee...], sent_ms]
-- KEYS[2] invt:<app>  the same fields by time (ms * 1000 + the invite's place among
--                     its millisecond's: in the order sent)
-- KEYS[3] invd:<dev>  the developer's pending invites, app<US>field, by the same time
-- KEYS[4] invn:<dev>  app<US>field -> how many invitees it holds; '*' -> all of them;
--                     '#ms', '#n' -> the last invite's millisecond and place in it
-- ARGV[1] field     group_id<US>seq_id
-- ARGV[2] inviter   user_id<US>mutex_type, '' for the app's backend
-- ARGV[3] invitees  JSON list of user_ids
-- ARGV[4] now       in ms
-- ARGV[5] ttl       how long an invite stays pending, in ms
-- ARGV[6] cap       pending invites kept per app
-- ARGV[7] app       the app's id
-- ARGV[8] n         how many invitees ARGV[3] lists
-- ARGV[9] most      invitees kept per developer
-- ARGV[10] inv      the key prefix of KEYS[1] (without its app)
-- ARGV[11] invt     the key prefix of KEYS[2] (without its app)
-- Returns 1 if remembered, 0 if another inviter's invite is pending there.
local now, ttl, cap = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local app, n, most = ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9])
local US = '\31'

-- one pending invite goes, and its invitees from the developer's count
local function forget(a, field)
  redis.call('HDEL', ARGV[10] .. a, field)
  redis.call('ZREM', ARGV[11] .. a, field)
  local member = a .. US .. field
  redis.call('ZREM', KEYS[3], member)
  local held = tonumber(redis.call('HGET', KEYS[4], member) or '0')
  redis.call('HDEL', KEYS[4], member)
  if held > 0 then redis.call('HINCRBY', KEYS[4], '*', -held) end
end

local function forget_member(member)
  local a, field = string.match(member, '^([^\31]*)\31(.*)$')
  if a then forget(a, field) else redis.call('ZREM', KEYS[3], member) end
end

local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local e = cjson.decode(cur)
  if e[1] ~= ARGV[2] and tonumber(e[3]) >= now - ttl then return 0 end
end
-- (sent again: it goes to the end, as the newest; and whatever of it is left, its
-- invite gone by another way, leaves the developer's count)
forget(app, ARGV[1])
-- (scores are ms * 1000 + a place below 1000: exact in Lua's doubles until about 2255)
local expired = (now - ttl) * 1000 - 1
for _, f in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', expired, 'LIMIT', 0, 1000)) do
  forget(app, f)
end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', expired, 'LIMIT', 0, 1000)) do
  forget_member(m)
end
while redis.call('ZCARD', KEYS[2]) >= cap do
  forget(app, redis.call('ZRANGE', KEYS[2], 0, 0)[1])
end
while tonumber(redis.call('HGET', KEYS[4], '*') or '0') + n > most do
  local oldest = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
  if not oldest then break end
  forget_member(oldest)
end
local entry = '[' .. cjson.encode(ARGV[2]) .. ',' .. ARGV[3] .. ',' .. ARGV[4] .. ']'
local member = app .. US .. ARGV[1]
local place = 0
if tonumber(redis.call('HGET', KEYS[4], '#ms') or '-1') == now then
  place = math.min(999, tonumber(redis.call('HGET', KEYS[4], '#n') or '0') + 1)
end
redis.call('HSET', KEYS[4], '#ms', now, '#n', place)
local score = now * 1000 + place
redis.call('HSET', KEYS[1], ARGV[1], entry)
redis.call('ZADD', KEYS[2], score, ARGV[1])
redis.call('ZADD', KEYS[3], score, member)
redis.call('HSET', KEYS[4], member, n)
redis.call('HINCRBY', KEYS[4], '*', n)
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
return 1
