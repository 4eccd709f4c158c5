-- issue_token: supersede a developer's live access token and store the new one
-- (cluster/tokens.py, RedisTokenBook.issue_access_token).
-- KEYS[1] dev:<dev_id>:at  the developer's live token
-- KEYS[2] at:<token>       the new token's entry
-- ARGV[1] token   the new token
-- ARGV[2] entry   dev_id|expires_at|fingerprint|1 (the last item: 1 live, 0 superseded)
-- ARGV[3] ttl     how long the entry is kept, in ms
-- ARGV[4] prefix  the tokens' key prefix (KEYS[2] without its token)
-- Returns 1.
local old = redis.call('GET', KEYS[1])
if old then
  local k = ARGV[4] .. old
  local e = redis.call('GET', k)
  if e then redis.call('SET', k, string.sub(e, 1, -2) .. '0', 'KEEPTTL') end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
