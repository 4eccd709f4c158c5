-- remember_invite: note a pending invite (cluster/presence.py,
-- RedisPresence.remember_invite). A pending invite of another inviter is not taken
-- over; the app's oldest go past its cap.
-- KEYS[1] inv:<app>   field -> [inviter, [invitee...], sent_ms]
-- KEYS[2] invt:<app>  the same fields by time
-- ARGV[1] field     group_id<US>seq_id
-- ARGV[2] inviter   user_id<US>mutex_type, '' for the app's backend
-- ARGV[3] invitees  JSON list of user_ids
-- ARGV[4] now       in ms
-- ARGV[5] ttl       how long an invite stays pending, in ms
-- ARGV[6] cap       pending invites kept per app
-- Returns 1 if remembered, 0 if another inviter's invite is pending there.
local now, ttl, cap = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local e = cjson.decode(cur)
  if e[1] ~= ARGV[2] and tonumber(e[3]) >= now - ttl then return 0 end
end
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl - 1, 'LIMIT', 0, 1000)
for _, f in ipairs(old) do
  redis.call('HDEL', KEYS[1], f)
  redis.call('ZREM', KEYS[2], f)
end
local entry = '[' .. cjson.encode(ARGV[2]) .. ',' .. ARGV[3] .. ',' .. ARGV[4] .. ']'
redis.call('HSET', KEYS[1], ARGV[1], entry)
redis.call('ZADD', KEYS[2], now, ARGV[1])
local n = redis.call('ZCARD', KEYS[2])
if n > cap then
  local gone = redis.call('ZPOPMIN', KEYS[2], n - cap)
  for i = 1, #gone, 2 do redis.call('HDEL', KEYS[1], gone[i]) end
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
