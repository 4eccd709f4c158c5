"""One tenant's terminals and entries stay its own (issue 10: items 4, 5, 6)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from hstgw.online.presence import INVITE_TTL_MS, LocalPresence, Presence
from hstgw.online.registry import Registry
from hstgw.online.session import Session
from tests.online.conftest import OnlineApp, raw_login

pytestmark = pytest.mark.anyio

APP_A, APP_B, APP_C = "a" * 32, "b" * 32, "c" * 32


class _Link:
    def push(self, text: str) -> bool:
        return True

    def close(self, code: int, reason: str) -> None:
        return None


class _Counting(dict[Any, Any]):
    """A dict that counts the entries handed out by iterating it."""

    visited = 0

    def _count(self, it: Iterator[Any]) -> Iterator[Any]:
        for x in it:
            type(self).visited += 1
            yield x

    def items(self) -> Any:
        return self._count(iter(super().items()))

    def values(self) -> Any:
        return self._count(iter(super().values()))

    def __iter__(self) -> Iterator[Any]:
        return self._count(super().__iter__())


def _session(app_id: str, user_id: str) -> Session:
    return Session(_Link(), app_id, user_id, "web", "", "", "", "", 0.0, f"{app_id}-{user_id}")


async def test_offline_entries_of_one_app_are_not_visited_for_another() -> None:
    counting = _Counting()
    registry = Registry(offline=counting)
    presence = LocalPresence(registry)
    for i in range(2000):  # app A's terminals come and go
        s = _session(APP_A, f"user{i}")
        registry.add(s)
        registry.remove(s, 1000)
    b = _session(APP_B, "bob")
    registry.add(b)
    registry.remove(b, 1000)
    _Counting.visited = 0  # (the entries written above are not counted)
    listed = await presence.offline(APP_B, 0)
    assert [o.user_id for o in listed] == ["bob"]
    assert counting.visited <= 1  # app B's own entry at most, none of A's 2000


# invites belong to their inviter (issue 10, item 4)


def _invite(seq: int, users: list[str], seq_id: int = 7) -> dict[str, Any]:
    return {"type": "invite", "seq": seq, "group_id": "room", "user_ids": users, "seq_id": seq_id}


def _reply(seq: int, seq_id: int = 7) -> dict[str, Any]:
    return {
        "type": "invite_reply",
        "seq": seq,
        "group_id": "room",
        "seq_id": seq_id,
        "accept": True,
    }


async def test_an_invite_is_not_taken_over_by_another_terminal(app: OnlineApp) -> None:
    alice, _ = await raw_login(app, "alice")
    mallory, _ = await raw_login(app, "mallory")
    bob, _ = await raw_login(app, "bob")
    assert (await alice.request(_invite(2, ["bob"])))["code"] == 0
    assert (await bob.expect("invite"))["inviter"]["user_id"] == "alice"
    taken = await mallory.request(_invite(3, ["bob"]))
    assert (taken["code"], taken["msg"]) == (
        1000101,
        "seq_id: a pending invite of another inviter has this seq_id",
    )
    answered = await bob.request(_reply(4))
    assert (answered["code"], answered["delivered"]) == (0, True)
    assert (await alice.expect("invite_reply"))["user_id"] == "bob"
    with pytest.raises(TimeoutError):
        await mallory.expect("invite_reply", timeout=0.3)
    # the inviter itself may send it again
    assert (await alice.request(_invite(5, ["bob"])))["code"] == 0
    for t in (alice, mallory, bob):
        await t.close()


async def test_only_invitees_may_reply(app: OnlineApp) -> None:
    alice, _ = await raw_login(app, "alice")
    bob, _ = await raw_login(app, "bob")
    carol, _ = await raw_login(app, "carol")
    assert (await alice.request(_invite(2, ["bob"])))["code"] == 0
    refused = await carol.request(_reply(3))
    assert (refused["code"], refused["msg"]) == (1000101, "seq_id: no such invite")
    with pytest.raises(TimeoutError):
        await alice.expect("invite_reply", timeout=0.3)
    assert (await bob.request(_reply(4)))["delivered"] is True
    for t in (alice, bob, carol):
        await t.close()


async def test_the_backends_invite_is_not_taken_over_by_a_terminal(app: OnlineApp) -> None:
    bob, _ = await raw_login(app, "bob")
    mallory, _ = await raw_login(app, "mallory")
    body = {"app_id": app.app_id, "group_id": "room", "user_id_list": ["bob"], "seq_id": 9}
    assert app.rest("POST", "/v1/online/invite", json=body)["code"] == 0
    taken = await mallory.request(_invite(2, ["bob"], seq_id=9))
    assert taken["code"] == 1000101
    # and the other way round: the backend cannot take a terminal's
    assert (await mallory.request(_invite(3, ["bob"], seq_id=10)))["code"] == 0
    refused = app.rest("POST", "/v1/online/invite", json={**body, "seq_id": 10})
    assert (refused["code"], refused["msg"]) == (
        606000003,
        "seq_id: a pending invite of another inviter has this seq_id",
    )
    for t in (bob, mallory):
        await t.close()


async def check_invite_bounds(presence: Presence) -> None:
    """Pending invites are bounded per app (here 5, ``invites_per_app``) and per
    developer (20 invitees, ``invitees_per_developer``): any presence passes these."""
    # dev-1 holds apps A and B, dev-2 app C
    assert await presence.remember_invite("dev-1", APP_B, "room", 1, ("bob", "web"), ["ann"], 1000)
    assert await presence.remember_invite("dev-2", APP_C, "hall", 1, None, ["cy"], 1000)
    for seq in range(50):  # app A's invites flood in
        assert await presence.remember_invite(
            "dev-1", APP_A, "g", seq, ("eve", "web"), ["x"], 1000 + seq
        )
    assert await presence.find_invite(APP_B, "room", 1, "ann", 1100) == (True, ("bob", "web"))
    # A keeps its last 5 exactly (45 to 49)
    for seq, kept in ((0, False), (44, False), (45, True), (49, True)):
        assert (await presence.find_invite(APP_A, "g", seq, "x", 1100))[0] is kept, seq
    # the same inviter may send it again; another may not take it over
    assert await presence.remember_invite("dev-1", APP_B, "room", 1, ("bob", "web"), ["cy"], 1101)
    assert not await presence.remember_invite("dev-1", APP_B, "room", 1, None, ["x"], 1102)
    assert await presence.find_invite(APP_B, "room", 1, "cy", 1102) == (True, ("bob", "web"))
    # the developer's invitees, all its apps together (6 now): its oldest go, in any
    # of its apps, never another developer's
    crowd = [f"u{i}" for i in range(8)]
    for seq in range(2):  # 6 + 16 > 20: A's two oldest go
        assert await presence.remember_invite("dev-1", APP_B, "big", seq, None, crowd, 1200)
    for seq in (45, 46):
        assert (await presence.find_invite(APP_A, "g", seq, "x", 1200))[0] is False
    assert await presence.find_invite(APP_A, "g", 47, "x", 1200) == (True, ("eve", "web"))
    assert await presence.find_invite(APP_B, "room", 1, "cy", 1200) == (True, ("bob", "web"))
    assert await presence.find_invite(APP_B, "big", 1, "u7", 1200) == (True, None)
    assert await presence.find_invite(APP_C, "hall", 1, "cy", 1200) == (True, None)
    # one invite larger than the bound is kept alone
    huge = [f"h{i}" for i in range(30)]
    assert await presence.remember_invite("dev-1", APP_A, "all", 1, None, huge, 1300)
    assert await presence.find_invite(APP_A, "all", 1, "h29", 1300) == (True, None)
    for app_id, group, seq, who in ((APP_B, "big", 1, "u7"), (APP_B, "room", 1, "cy")):
        assert (await presence.find_invite(app_id, group, seq, who, 1300))[0] is False
    assert await presence.find_invite(APP_C, "hall", 1, "cy", 1300) == (True, None)
    # once they expire, the developer's count is free again
    later = 1300 + INVITE_TTL_MS + 1
    await presence.prune(later, 0)
    for seq in range(2):
        assert await presence.remember_invite("dev-1", APP_B, "big", 10 + seq, None, crowd, later)
    assert await presence.find_invite(APP_B, "big", 10, "u0", later) == (True, None)


async def check_invite_expiry(presence: Presence, held: Callable[[], Awaitable[int]]) -> None:
    """An expired invite leaves the developer's count (``held``: the invitees counted)
    though the bound is never reached: under the bound no eviction would take it."""
    five = [f"u{i}" for i in range(5)]
    assert await presence.remember_invite("dev-1", APP_A, "g", 1, None, five, 0)
    half = INVITE_TTL_MS // 2
    assert await presence.remember_invite("dev-1", APP_A, "g", 2, None, five, half)
    assert await held() == 10
    after = INVITE_TTL_MS + 1  # the first expired, the second not
    await presence.prune(after, 0)
    assert await presence.remember_invite("dev-1", APP_B, "g", 3, None, ["x"], after)
    assert await held() == 6
    assert await presence.find_invite(APP_A, "g", 2, "u4", after) == (True, None)


async def test_pending_invites_are_bounded_per_app_and_per_developer() -> None:
    presence = LocalPresence(Registry(), invites_per_app=5, invitees_per_developer=20)
    await check_invite_bounds(presence)
    await presence.prune(10**13, 0)
    assert presence.pending_invites() == 0
    assert not presence._invites_of and not presence._invitees  # (nothing of them left)


async def test_expired_invites_leave_the_developers_count() -> None:
    presence = LocalPresence(Registry(), invites_per_app=5, invitees_per_developer=20)

    async def held() -> int:
        return presence._invitees["dev-1"]

    await check_invite_expiry(presence, held)


# a terminal reaches only its app and company (issue 10, item 5)


async def test_messages_and_invites_stay_within_the_company(app: OnlineApp) -> None:
    x, _ = await raw_login(app, "xavier", company_id="x-corp")
    y, _ = await raw_login(app, "yolanda", company_id="y-corp")
    y_too, _ = await raw_login(app, "xavier", mutex_type="windows", company_id="y-corp")
    msg = {"type": "message", "seq": 2, "to_user_id": "yolanda", "body": {"t": "hi"}}
    refused = await x.request(msg)
    assert refused["code"] == 1000106
    invited = await x.request(_invite(3, ["yolanda"]))
    assert (invited["code"], invited["failed_user_ids"]) == (0, ["yolanda"])
    with pytest.raises(TimeoutError):
        await y.expect("invite", timeout=0.3)
    # the user's terminal of another company is not reached either
    to_self = await y.request({**msg, "seq": 4, "to_user_id": "xavier"})
    assert (to_self["code"], to_self["delivered"]) == (0, 1)
    assert (await y_too.expect("message"))["from_user_id"] == "yolanda"
    with pytest.raises(TimeoutError):
        await x.expect("message", timeout=0.3)
    for t in (x, y, y_too):
        await t.close()


async def test_a_token_may_bind_the_company(app: OnlineApp) -> None:
    from hstgw.tokens.fsp import build

    bound = build(app.app_id, app.app_secret, uid="ann", cid="acme")
    t, wrong = await raw_login(app, "ann", token=bound, company_id="other")
    assert wrong["code"] == 1000000
    await t.close()
    t, ok = await raw_login(app, "ann", token=bound, company_id="acme")
    assert ok["code"] == 0
    await t.close()
    # a resume credential answers for the company it was issued in only
    t, moved = await raw_login(app, "ann", token="", resume=ok["resume"], company_id="other")
    assert moved["code"] == 1000000
    await t.close()


async def test_only_the_users_an_invite_reached_may_reply(app: OnlineApp) -> None:
    """An invite remembers the users it reached, not every name it was given: a user
    offline when it was sent (and an invite to 500 made-up names) holds nothing."""
    alice, _ = await raw_login(app, "alice")
    bob, _ = await raw_login(app, "bob")
    names = ["bob", "dave", *(f"nobody{i}" for i in range(300))]
    sent = await alice.request(_invite(2, names))
    assert sent["code"] == 0 and "bob" not in sent["failed_user_ids"]
    dave, _ = await raw_login(app, "dave")  # online only after the invite
    late = await dave.request(_reply(3))
    assert (late["code"], late["msg"]) == (1000101, "seq_id: no such invite")
    assert (await bob.request(_reply(4)))["delivered"] is True
    for t in (alice, bob, dave):
        await t.close()


def test_a_bucket_is_carried_as_it_stands_when_the_login_ends() -> None:
    """What a login again starts from is the message bucket refilled to the login's end:
    two frames long ago leave nothing to carry (they filled the table of carried
    buckets with full ones), a listing's cost just now does."""
    s = _session(APP_A, "ann")
    s.fill(100.0)
    assert s.allow(0.0, 100.0) and s.allow(0.001, 100.0)
    assert s.short_bucket(0.002) == (pytest.approx(98.2), 0.002)  # two messages short, 0.2 back
    assert s.short_bucket(3600.0) is None  # full again
    s.charge(3600.0, 100.0, 250)  # a listing of 25,000 terminals
    assert s.short_bucket(3600.5) == (pytest.approx(-100.0), 3600.5)
