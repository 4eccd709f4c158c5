"""The SDK against a real gateway: token sharing, recovery, pages, typed errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import anyio
import httpx
import pytest

from hstgw.sdk import (
    App,
    AsyncClient,
    AuthenticationError,
    Client,
    ConfigurationError,
    InvalidParameterError,
    MissingParameterError,
)
from hstgw.sdk._exceptions import make_api_error
from tests.conftest import Dev, Gateway


class CountingTransport(httpx.HTTPTransport):
    """The real transport, counting the access-token requests that pass through."""

    def __init__(self) -> None:
        super().__init__()
        self.token_calls = 0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/access/token":
            with self._lock:
                self.token_calls += 1
        return super().handle_request(request)


class AsyncCountingTransport(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.token_calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/access/token":
            self.token_calls += 1
        return await super().handle_async_request(request)


@pytest.fixture
def client(gateway: Gateway, dev: Dev) -> Iterator[Client]:
    with Client(gateway.url, dev.dev_id, dev.dev_secret) as c:
        yield c


def test_crud_round_trip(client: Client) -> None:
    app = client.apps.create("sdk_app", [3, (7, 500)], status="online", consumption_limit=50)
    assert isinstance(app, App)
    assert (app.app_name, app.status, app.consumption_limit) == ("sdk_app", "online", 50)
    assert [(s.service_id, s.use_limit) for s in app.service] == [(3, None), (7, 500)]
    assert client.apps.get(app.app_id) == app
    changed = client.apps.update(app.app_id, app_name="renamed", consumption_limit=None)
    assert (changed.app_name, changed.consumption_limit, changed.status) == (
        "renamed",
        None,
        "online",
    )
    changed = client.apps.update(app.app_id, service=[{"service_id": 4, "use_limit": 1}])
    assert [(s.service_id, s.service_name, s.use_limit) for s in changed.service] == [
        (4, "音频服务", 1)
    ]
    client.apps.delete(app.app_id)
    with pytest.raises(InvalidParameterError) as err:
        client.apps.get(app.app_id)
    assert err.value.code == 606000003 and err.value.msg == "app_id: no such app"
    assert err.value.request_id and len(err.value.request_id) == 32
    assert str(err.value) == f"606000003 app_id: no such app (request id {err.value.request_id})"


def test_an_error_without_a_request_id_does_not_name_one() -> None:
    """The event gateway's and a terminal's replies carry none: no "(request id None)"."""
    err = make_api_error(606000003, "app_list[0].app_id: no such app", None)
    assert isinstance(err, InvalidParameterError)
    assert str(err) == "606000003 app_list[0].app_id: no such app"


def test_list_iterates_over_every_page(gateway: Gateway) -> None:
    dev = gateway.new_dev()
    with Client(gateway.url, dev.dev_id, dev.dev_secret) as client:
        ids = [client.apps.create(f"p{i}", [3]).app_id for i in range(7)]
        page = client.apps.list(page_size=3)
        assert (page.total, page.page, len(page.items)) == (7, 1, 3)
        assert page.has_next_page()
        assert [a.app_id for a in page] == ids
        assert [len(p.items) for p in page.iter_pages()] == [3, 3, 1]


def test_errors_are_typed_with_code_msg_and_request_id(client: Client) -> None:
    with pytest.raises(MissingParameterError) as err:
        client.request("POST", "/v1/app", json={"service": [{"service_id": 3}]})
    assert (err.value.code, err.value.msg) == (606000002, "app_name: required")
    with pytest.raises(InvalidParameterError, match=r"service_id: must be 3\.\.9"):
        client.apps.create("bad", [12])


def test_wrong_secret_is_an_authentication_error(gateway: Gateway, dev: Dev) -> None:
    with (
        Client(gateway.url, dev.dev_id, "0123456789abcdef") as client,
        pytest.raises(AuthenticationError) as err,
    ):
        client.apps.list()
    assert err.value.code == 606000000


def test_32_threads_share_one_access_token(gateway: Gateway, dev: Dev) -> None:
    transport = CountingTransport()
    with Client(gateway.url, dev.dev_id, dev.dev_secret, transport=transport) as client:
        barrier = threading.Barrier(32)

        def work(_: int) -> int:
            barrier.wait()
            return client.apps.list().total

        with ThreadPoolExecutor(32) as pool:
            assert list(pool.map(work, range(32))) == [0] * 32
    assert transport.token_calls == 1


def test_a_superseded_token_is_recovered_transparently(gateway: Gateway, dev: Dev) -> None:
    transport = CountingTransport()
    with Client(gateway.url, dev.dev_id, dev.dev_secret, transport=transport) as client:
        client.apps.create("first", [3])
        stale = client.get_access_token()
        gateway.access_token(dev)  # another process of the developer takes a new token
        assert [a.app_name for a in client.apps.list()] == ["first"]
        assert client.get_access_token() != stale
    assert transport.token_calls == 2


def test_an_expired_token_is_recovered_transparently(fresh_gateway: Gateway) -> None:
    dev = fresh_gateway.new_dev()
    transport = CountingTransport()
    with Client(fresh_gateway.url, dev.dev_id, dev.dev_secret, transport=transport) as client:
        client.apps.list()
        fresh_gateway.clock.advance(7300)  # server-side expiry, unseen by the client's clock
        assert client.apps.list().total == 0
    assert transport.token_calls == 2


@pytest.mark.anyio
async def test_async_client_shares_one_token_across_tasks(gateway: Gateway, dev: Dev) -> None:
    transport = AsyncCountingTransport()
    async with AsyncClient(gateway.url, dev.dev_id, dev.dev_secret, transport=transport) as client:
        app = await client.apps.create("async_app", [4])
        totals: list[int] = []

        async def work() -> None:
            totals.append((await client.apps.list()).total)

        async with anyio.create_task_group() as tg:
            for _ in range(32):
                tg.start_soon(work)
        assert totals == [1] * 32
        assert transport.token_calls == 1

        gateway.access_token(dev)  # supersede
        assert (await client.apps.get(app.app_id)).app_name == "async_app"
        assert transport.token_calls == 2
        page = await client.apps.list(page_size=1)
        assert [a.app_id async for a in page] == [app.app_id]
        await client.apps.update(app.app_id, status="online")
        await client.apps.delete(app.app_id)
        assert (await client.apps.list()).total == 0


def test_configuration_from_the_environment(
    gateway: Gateway, dev: Dev, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HSTGW_BASE_URL", gateway.url)
    monkeypatch.setenv("HSTGW_DEV_ID", dev.dev_id)
    monkeypatch.setenv("HSTGW_DEV_SECRET", dev.dev_secret)
    with Client() as client:
        assert client.apps.list().total == 0


def test_missing_or_unusable_credentials_are_refused_up_front(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in ("HSTGW_DEV_ID", "HSTGW_DEV_SECRET"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigurationError, match="required"):
        Client("http://127.0.0.1:1")
    with pytest.raises(ConfigurationError, match="16 bytes"):
        Client("http://127.0.0.1:1", "a" * 32, "short")


class LosesFirstReply(httpx.HTTPTransport):
    """The real transport, except that the reply to the first POST is lost after the
    gateway has done the work (a connection reset on the way back)."""

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == "POST":
            self.posts.append(request.headers.get("idempotency-key"))
            if len(self.posts) == 1:
                response.read()
                raise httpx.ReadError("connection reset", request=request)
        return response


def test_a_create_whose_reply_was_lost_is_retried_and_made_once(gateway: Gateway, dev: Dev) -> None:
    transport = LosesFirstReply()
    with Client(gateway.url, dev.dev_id, dev.dev_secret, transport=transport) as client:
        app = client.apps.create("made_once", [3])
        assert [a.app_id for a in client.apps.list()] == [app.app_id]
    # one key, sent with both tries
    assert len(transport.posts) == 2 and transport.posts[0] == transport.posts[1]
    assert transport.posts[0] is not None
