"""Fixtures: each stock client once per session, started only when a test asks for it.

A client whose runtime is not on the machine is skipped, except in CI (``CI=true``),
where Java and Node must be there (``.ci/run`` installs a JDK); Go is optional everywhere
and curl is skipped where it is absent.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients.transports import (
    HERE,
    CurlClient,
    HttpxClient,
    LineClient,
    RequestsClient,
    UrllibClient,
)

IN_CI = os.environ.get("CI", "").lower() in ("true", "1")


def runtime(tool: str, *, required_in_ci: bool) -> str:
    """The path of ``tool``, or skip (fail in CI when it is required there)."""
    path = shutil.which(tool)
    if path is None:
        if IN_CI and required_in_ci:
            pytest.fail(f"`{tool}` is required in CI (CI=true) and is not on PATH")
        pytest.skip(f"`{tool}` is not on PATH")
    return path


def major_version(argv: list[str]) -> int:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
    # `java -version` writes `openjdk version "17.0.15"` (or "1.8.0_392") to stderr
    found = re.search(r'(?:version "|^v)(?:1\.)?(\d+)', done.stderr + done.stdout, re.M)
    assert found, (argv, done.stdout, done.stderr)
    return int(found.group(1))


def line_client(name: str, argv: list[str], minimum: int, version_argv: list[str]) -> LineClient:
    if major_version(version_argv) < minimum:
        message = f"{name} needs version {minimum} or newer: {' '.join(version_argv)}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return LineClient(name, argv, HERE / name)


@pytest.fixture(scope="session")
def java_client() -> Iterator[LineClient]:
    """java.net.http.HttpClient with its defaults, run by the source launcher (JDK 11+)."""
    java = runtime("java", required_in_ci=True)
    runtime("javac", required_in_ci=True)  # a JRE alone cannot run a source file
    client = line_client("java", [java, "Client.java"], 11, [java, "-version"])
    yield client
    client.close()


@pytest.fixture(scope="session")
def node_client() -> Iterator[LineClient]:
    """Node's global fetch (Node 18+)."""
    node = runtime("node", required_in_ci=True)
    client = line_client("node", [node, "client.mjs"], 18, [node, "--version"])
    yield client
    client.close()


@pytest.fixture(scope="session")
def go_client() -> Iterator[LineClient]:
    """Go's net/http, where a Go toolchain is on PATH (never installed for the suite)."""
    go = runtime("go", required_in_ci=False)
    client = LineClient("go", [go, "run", "client.go"], HERE / "go")
    yield client
    client.close()


@pytest.fixture(scope="session")
def curl_client() -> CurlClient:
    return CurlClient(runtime("curl", required_in_ci=False))


@pytest.fixture(scope="session")
def curl_h2c_client() -> CurlClient:
    """curl offering HTTP/2 on http:// (``Upgrade: h2c``), as Java's client does."""
    return CurlClient(runtime("curl", required_in_ci=False), "--http2")


@pytest.fixture(scope="session")
def urllib_client() -> UrllibClient:
    return UrllibClient()


@pytest.fixture(scope="session")
def requests_client() -> Iterator[RequestsClient]:
    client = RequestsClient()
    yield client
    client.close()


@pytest.fixture(scope="session")
def httpx_client() -> Iterator[HttpxClient]:
    client = HttpxClient()
    yield client
    client.close()


JS_PACKAGE = HERE.parent.parent / "clients" / "js"


@pytest.fixture(scope="session")
def js_sdk() -> Path:
    """clients/js with its pinned dev dependencies installed (``npm ci``) and built;
    needs Node 20+ and npm (required in CI, where ``.ci/run`` installs them)."""
    node = runtime("node", required_in_ci=True)
    npm = runtime("npm", required_in_ci=True)
    if major_version([node, "--version"]) < 20:
        message = "the JS SDK needs Node 20 or newer"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=JS_PACKAGE,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        message = f"npm ci in clients/js failed (is the npm registry reachable?): {done.stderr}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [npm, "run", "build"], cwd=JS_PACKAGE, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return JS_PACKAGE
