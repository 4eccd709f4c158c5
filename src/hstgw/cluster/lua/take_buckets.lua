-- take_buckets: take from abuse-limit token buckets, with Redis's own clock
-- (cluster/abuse.py, RedisBuckets). Each bucket is a hash (tokens, at).
-- KEYS[i]  rl:<key>  the i-th bucket
-- ARGV[4i-3] rate   tokens per second of the i-th bucket
-- ARGV[4i-2] burst  its capacity
-- ARGV[4i-1] cost   tokens taken (0: only check that one is there); past what the
--                   bucket holds after one call, taken whole from a bucket full but
--                   for that call, into debt (hstgw.abuse.needed)
-- ARGV[4i]   force  1: taken whatever the bucket holds, into debt (work already done)
-- Returns, for each bucket, {allowed (0/1), tokens left * 1000}.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local out = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[4 * i - 3])
  local burst = tonumber(ARGV[4 * i - 2])
  local cost = tonumber(ARGV[4 * i - 1])
  local force = tonumber(ARGV[4 * i]) == 1
  local b = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(b[1]) or burst
  local at = tonumber(b[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
  local needed = cost
  if cost <= 0 then
    needed = 1
  elseif cost >= burst then
    needed = math.max(burst - 1, 1)
  end
  local allowed = 0
  if force or tokens >= needed then
    allowed = 1
    tokens = tokens - cost
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
  local ttl = (burst - math.min(tokens, 0)) / math.max(rate, 1e-6)  -- (until full again)
  redis.call('PEXPIRE', key, math.ceil(ttl * 1000) + 1000)
  out[i] = {allowed, math.floor(tokens * 1000)}
end
return out
