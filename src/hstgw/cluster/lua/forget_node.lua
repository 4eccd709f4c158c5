-- forget_node: forget a reaped node unless it came back (cluster/presence.py,
-- RedisPresence.reap).
-- KEYS[1] lease:<node>  the node's lease
-- KEYS[2] node:<node>   what the node held
-- KEYS[3] nodes         the cluster's nodes
-- ARGV[1] node    the node's id
-- Returns 1 if forgotten, 0 if its lease is back.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return 1
