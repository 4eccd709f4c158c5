"""A real PostgreSQL restart under a running gateway: it answers 606000006 quickly
while the database is away, recovers within 5 s of its return, and loses nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.billing.conftest import ev
from tests.cluster.conftest import cluster_settings
from tests.conftest import Gateway, engine_settings, postgres_reachable, start_gateway
from tests.waiting import eventually_sync

CLUSTER = sorted(os.listdir("/etc/postgresql"))[0] if os.path.isdir("/etc/postgresql") else ""

pytestmark = pytest.mark.skipif(
    not (shutil.which("pg_ctlcluster") and CLUSTER and os.geteuid() == 0),
    reason="needs a local PostgreSQL cluster this user may stop and start",
)


def cluster(action: str) -> None:
    cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", CLUSTER, "main", action]
    if action == "stop":
        cmd += ["-m", "fast"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


def wait_ready(seconds: float = 30) -> None:
    def ready() -> bool:
        return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False).returncode == 0

    assert eventually_sync(ready, seconds), "PostgreSQL did not come back"


def serves(gw: Gateway, token: str) -> bool:
    return bool(gw.call("GET", "/v1/apps", token)["code"] == 0)


@pytest.mark.parametrize("mode", ["single", "cluster"])
def test_postgres_restart(tmp_path: Path, mode: str) -> None:
    if not postgres_reachable():
        pytest.skip("PostgreSQL cannot be reached")
    # cluster: the same, with Redis (its namespace removed afterwards too)
    settings = (
        cluster_settings() if mode == "cluster" else contextmanager(engine_settings)("postgres")
    )
    with settings as db:
        # no access-token cache: while the database is away, each call must reach it
        settings = {**db, "heartbeat_interval": 0.4, "auth_cache_ttl": 0}
        for gw in start_gateway(tmp_path, **settings):
            token = gw.access_token(gw.new_dev())
            app_id = gw.call(
                "POST",
                "/v1/app",
                token,
                json={"app_name": "durable", "service": [{"service_id": 4}]},
            )["result"]["app_id"]
            node = gw.new_node()
            usage = {"Authorization": f"Bearer {node}"}
            first = {"events": [ev("before", app_id, 1, 60_000)]}
            assert gw.call("POST", "/internal/v1/usage", json=first, headers=usage)["code"] == 0
            during = {"events": [ev("during", app_id, 1, 60_000)]}
            try:
                cluster("stop")
                started = time.monotonic()
                assert gw.call("GET", "/v1/apps", token)["code"] == 606000006
                assert (
                    gw.call("POST", "/internal/v1/usage", json=during, headers=usage)["code"]
                    == 606000006
                )
                # quickly, not a hang: each call fails on a refused connection (ms); the
                # bound is generous for a loaded machine, far below the store's timeouts
                assert time.monotonic() - started < 3
            finally:
                cluster("start")
                wait_ready()
            assert eventually_sync(lambda gw=gw, t=token: serves(gw, t), 5), "no recovery in 5 s"
            # the node re-sends what was refused: kept once, nothing lost
            assert gw.call("POST", "/internal/v1/usage", json=during, headers=usage)["result"] == {
                "accepted": 1,
                "duplicates": 0,
            }
            assert gw.call("POST", "/internal/v1/usage", json=first, headers=usage)["result"] == {
                "accepted": 0,
                "duplicates": 1,
            }
