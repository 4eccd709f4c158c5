"""One logged-in terminal: who it is, its link, its rate limit.

The service never awaits a terminal: ``Link.push`` writes a frame or says it
could not, so a slow or dead terminal never holds up a fan-out to thousands.
"""

from __future__ import annotations

from typing import Protocol

from hstgw.abuse import refill

__all__ = ["Link", "Session", "TerminalKey", "describe"]

# (app_id, user_id, mutex_type): a user is online once per kind of terminal.
TerminalKey = tuple[str, str, str]


class Link(Protocol):
    """The connection under a session (a WebSocket in production)."""

    def push(self, text: str) -> bool:
        """Queue ``text`` for sending without waiting; False if the link cannot take it."""

    def close(self, code: int, reason: str) -> None:
        """Close the link (in the background)."""


class Session:
    __slots__ = (
        "_allowance",
        "_group_allowance",
        "_group_refill",
        "_last_refill",
        "_rate",
        "app_id",
        "client_guid",
        "company_id",
        "conn",
        "custom_state",
        "ended",
        "extend_info",
        "groups",
        "last_seen",
        "link",
        "mutex_type",
        "since_ms",
        "user_id",
    )

    def __init__(
        self,
        link: Link,
        app_id: str,
        user_id: str,
        mutex_type: str,
        client_guid: str,
        company_id: str,
        custom_state: str,
        extend_info: str,
        now: float,
        conn: str = "",
        since_ms: int = 0,
    ) -> None:
        self.link = link
        self.app_id = app_id
        self.user_id = user_id
        self.mutex_type = mutex_type
        self.client_guid = client_guid
        self.company_id = company_id
        self.custom_state = custom_state
        self.extend_info = extend_info
        self.last_seen = now
        self.conn = conn  # this login's id (presence and routing tell logins apart by it)
        self.since_ms = since_ms  # when it logged in (epoch ms; ``now`` is monotonic)
        self.ended = False  # kicked or gone: no longer in the registry
        # The groups it joined and the media it started in each (media_id -> type): left
        # when it goes, joined again if its node had been taken for dead (a cluster).
        self.groups: dict[str, dict[str, int]] | None = None
        self._allowance = 0.0
        self._last_refill = now
        self._rate = 0.0  # (its message rate, once filled)
        self._group_allowance = -1.0  # (full at its first group frame)
        self._group_refill = now

    @property
    def key(self) -> TerminalKey:
        return (self.app_id, self.user_id, self.mutex_type)

    @property
    def scope(self) -> tuple[str, str]:
        """Who sees whom: terminals of one app and one company."""
        return (self.app_id, self.company_id)

    def allow(self, now: float, rate: float) -> bool:
        """Token bucket of ``rate`` messages per second, burst ``rate`` (kept here, not
        in ``LocalBuckets``, for speed: see ``hstgw.abuse.refill``)."""
        self._allowance = refill(self._allowance, self._last_refill, now, rate, rate)
        self._last_refill = now
        if self._allowance < 1.0:
            return False
        self._allowance -= 1.0
        return True

    def charge(self, now: float, rate: float, messages: float) -> None:
        """Work worth ``messages`` more, done: taken from the same bucket, into debt if
        need be (the terminal's next frames are refused until it refills)."""
        self._allowance = refill(self._allowance, self._last_refill, now, rate, rate) - messages
        self._last_refill = now

    def allow_group(self, now: float, rate: float) -> bool:
        """Token bucket of ``rate`` group frames per second, burst ``10 * rate``: each is
        a durable event, which the message rate alone would let one terminal write 100
        of a second, for a week of retention."""
        burst = 10 * rate
        if self._group_allowance < 0:
            self._group_allowance = burst
        else:
            self._group_allowance = refill(
                self._group_allowance, self._group_refill, now, rate, burst
            )
        self._group_refill = now
        if self._group_allowance < 1.0:
            return False
        self._group_allowance -= 1.0
        return True

    def fill(self, rate: float) -> None:
        self._allowance = self._rate = rate

    def short_bucket(self, now: float) -> tuple[float, float] | None:
        """Its message rate's bucket at ``now`` if more than a message short of full
        (allowance, now): what a login again of the same terminal starts from. (A
        message short is every terminal's heartbeat: not worth keeping.)"""
        allowance = refill(self._allowance, self._last_refill, now, self._rate, self._rate)
        return (allowance, now) if allowance < self._rate - 1 else None

    def start_from(self, bucket: tuple[float, float]) -> None:
        """Start from the bucket an earlier login of the same terminal left (refilled
        since at the rate, as its own would be)."""
        self._allowance, self._last_refill = bucket

    def describe(self) -> dict[str, object]:
        return describe(self.user_id, self.mutex_type, self.client_guid, self.custom_state)


def describe(
    user_id: str, mutex_type: str, client_guid: str, custom_state: str
) -> dict[str, object]:
    """A terminal as other terminals see it (presence pushes, list_online, invites)."""
    return {
        "user_id": user_id,
        "mutex_type": mutex_type,
        "client_guid": client_guid,
        "custom_state": custom_state,
    }
