"""Cluster mode: many gateway nodes on one PostgreSQL and one Redis (design 7).

``redis`` (the client and its namespace), ``tokens`` (access tokens), ``presence``
(who is online where, node leases), ``bus`` (messages between nodes) and ``node``
(one node's part in all of it). Imported only when ``HSTGW_REDIS_URL`` is set.
"""

from hstgw.cluster.node import ClusterNode
from hstgw.cluster.redis import RedisUnavailable

__all__ = ["ClusterNode", "RedisUnavailable"]
