"""The online service: logins, presence, and everything delivered to terminals.

``OnlineCore`` (core.py) holds the state and the logins; ``TerminalRequests``
(requests.py) answers terminals; ``Deliveries`` (delivery.py) serves the REST API.
"""

from __future__ import annotations

from hstgw.online.core import OnlineConfig
from hstgw.online.delivery import Deliveries
from hstgw.online.frames import TerminalError
from hstgw.online.requests import TerminalRequests

__all__ = ["OnlineConfig", "OnlineService", "TerminalError"]


class OnlineService(TerminalRequests, Deliveries):
    pass
