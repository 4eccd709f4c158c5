"""Stock HTTP clients behind one small interface, so one scenario runs on each of them.

The Python clients (``urllib.request``, ``requests``, ``httpx``) are called in process;
curl is run once a request; Java, Node and Go run a small program of their own
(``java/Client.java``, ``node/client.mjs``, ``go/client.go``) that stays up for the
session and sends each request it reads on stdin with the language's stock client,
with its defaults, answering on stdout (the line format is in those files).
"""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import httpx
import requests

__all__ = [
    "HERE",
    "CurlClient",
    "HttpxClient",
    "LineClient",
    "Reply",
    "RequestsClient",
    "StockClient",
    "UrllibClient",
]

HERE = Path(__file__).parent
TIMEOUT_S = 20  # one request; the programs time out their own requests at 20 s too


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    request_id: str
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class StockClient(Protocol):
    name: str

    def send(
        self, method: str, url: str, authorization: str | None, body: dict[str, Any] | None
    ) -> Reply: ...


class UrllibClient:
    name = "urllib"

    def send(
        self, method: str, url: str, authorization: str | None, body: dict[str, Any] | None
    ) -> Reply:
        headers = {"Authorization": authorization} if authorization else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                return Reply(
                    response.status,
                    response.headers.get("Content-Type", ""),
                    response.headers.get("X-Request-Id", ""),
                    response.read().decode("utf-8"),
                )
        except urllib.error.HTTPError as error:  # a status other than 2xx still has a body
            with error:
                return Reply(
                    error.code,
                    error.headers.get("Content-Type", ""),
                    error.headers.get("X-Request-Id", ""),
                    error.read().decode("utf-8"),
                )


class RequestsClient:
    name = "requests"

    def __init__(self) -> None:
        self.session = requests.Session()

    def send(
        self, method: str, url: str, authorization: str | None, body: dict[str, Any] | None
    ) -> Reply:
        headers = {"Authorization": authorization} if authorization else {}
        r = self.session.request(method, url, json=body, headers=headers, timeout=TIMEOUT_S)
        return Reply(
            r.status_code,
            r.headers.get("Content-Type", ""),
            r.headers.get("X-Request-Id", ""),
            r.content.decode("utf-8"),
        )

    def close(self) -> None:
        self.session.close()


class HttpxClient:
    name = "httpx"

    def __init__(self) -> None:
        self.client = httpx.Client(timeout=TIMEOUT_S)

    def send(
        self, method: str, url: str, authorization: str | None, body: dict[str, Any] | None
    ) -> Reply:
        headers = {"Authorization": authorization} if authorization else {}
        r = self.client.request(method, url, json=body, headers=headers)
        return Reply(
            r.status_code,
            r.headers.get("Content-Type", ""),
            r.headers.get("X-Request-Id", ""),
            r.content.decode("utf-8"),
        )

    def close(self) -> None:
        self.client.close()


class CurlClient:
    """curl, one process a request; ``--http2`` makes it offer ``Upgrade: h2c`` too."""

    def __init__(self, curl: str, *options: str) -> None:
        self.curl = curl
        self.options = list(options)
        self.name = " ".join(["curl", *options])

    def send(
        self, method: str, url: str, authorization: str | None, body: dict[str, Any] | None
    ) -> Reply:
        with tempfile.TemporaryDirectory() as tmp:
            headers_file, body_file = Path(tmp, "headers"), Path(tmp, "body")
            args = [self.curl, "--silent", "--show-error", "--max-time", str(TIMEOUT_S)]
            args += [*self.options, "--request", method, "--dump-header", str(headers_file)]
            args += ["--output", str(body_file), "--write-out", "%{http_code}"]
            if authorization:
                args += ["--header", f"Authorization: {authorization}"]
            data = None
            if body is not None:
                args += ["--header", "Content-Type: application/json", "--data-binary", "@-"]
                data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            done = subprocess.run(
                [*args, url], input=data, capture_output=True, timeout=TIMEOUT_S + 5
            )
            assert done.returncode == 0, done.stderr.decode()
            # the last block: an interim reply (100, 101) comes first when there is one
            head = headers_file.read_bytes().decode("latin-1").replace("\r\n", "\n")
            block = head.strip().split("\n\n")[-1]
            fields = dict(
                (name.strip().lower(), value.strip())
                for name, _, value in (line.partition(":") for line in block.split("\n")[1:])
            )
            return Reply(
                int(done.stdout),
                fields.get("content-type", ""),
                fields.get("x-request-id", ""),
                body_file.read_text("utf-8"),
            )


class LineClient:
    """A program that sends each request it reads on stdin with its language's client."""

    def __init__(self, name: str, argv: list[str], cwd: Path) -> None:
        self.name = name
        # closed by close(), which the session fixture calls
        self._stderr: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )

    def _ask(self, *fields: str, timeout: float = 120) -> list[str]:
        """One command, one answer line; the first answer waits for the program to start."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with contextlib.suppress(BrokenPipeError):  # it died: said below, with its stderr
            self.proc.stdin.write("\t".join(fields) + "\n")
            self.proc.stdin.flush()
        watchdog = threading.Timer(timeout, self.proc.kill)
        watchdog.start()
        try:
            line = self.proc.stdout.readline()
        finally:
            watchdog.cancel()
        if not line:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
            self._stderr.seek(0)
            raise AssertionError(
                f"{self.name} answered nothing (exit {self.proc.poll()}): {self._stderr.read()}"
            )
        answer = line.rstrip("\n").split("\t")
        assert answer[0] != "ERROR", f"{self.name}: {answer[1:]}"
        return answer

    def token(self, aid: str, secret: str, now_ms: int) -> str:
        """A 001 token built by the program (the Java one builds them)."""
        kind, token = self._ask("TOKEN", aid, secret, str(now_ms))
        assert kind == "TOKEN"
        return token

    def send(
        self, method: str, url: str, authorization: str | None, body: dict[str, Any] | None
    ) -> Reply:
        data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        kind, status, content_type, request_id, text = self._ask(
            method, url, authorization or "", base64.b64encode(data).decode("ascii")
        )
        assert kind == "REPLY"
        return Reply(int(status), content_type, request_id, base64.b64decode(text).decode())

    def close(self) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()
