"""Run ``hstgw`` with stdout and stderr on terminals (pseudo-terminals), as a person does."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode().replace("\r\n", "\n")


def run_on_a_terminal(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``hstgw <args>`` run on two terminals."""
    out_master, out_slave = pty.openpty()
    err_master, err_slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hstgw", *args],
        stdin=subprocess.DEVNULL,
        stdout=out_slave,
        stderr=err_slave,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    os.close(out_slave)
    os.close(err_slave)
    with ThreadPoolExecutor(2) as pool:
        out, err = pool.submit(_read_all, out_master), pool.submit(_read_all, err_master)
        status = proc.wait(60)
        return status, out.result(timeout=60), err.result(timeout=60)
