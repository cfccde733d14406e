"""Helpers for the tests that start a real server process and talk to it over loopback.

Every server is started in its own session (process group), so that stopping it also stops
what it started: `make` starts python, and uvicorn starts its worker processes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

LOOPBACK = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any `GRADLAB_*` setting, plus `overrides`.

    Nothing the developer exported, and no virtualenv activation, leaks into the server.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GRADLAB_") and key not in {"VIRTUAL_ENV", "PYTHONPATH"}
    }
    env.update(overrides)
    return env


def log_tail(log: Path, lines: int = 40) -> str:
    """The end of a server's log, for failure messages."""
    if not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def wait_until(
    ready: Callable[[], bool],
    *,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
    what: str = "the server",
    interval: float = 0.2,
) -> None:
    """Poll `ready` until it is true; fail after `timeout` seconds or when `process` exits."""
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        context = f"\n--- log ---\n{log_tail(log)}" if log is not None else ""
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode} early{context}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not ready after {timeout:.0f} s{context}")
        time.sleep(interval)


def wait_for_url(
    url: str,
    *,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> httpx.Response:
    """GET `url` until it answers 200, and return that response."""
    answers: list[httpx.Response] = []

    def answered() -> bool:
        try:
            response = httpx.get(url, timeout=2.0)
        except httpx.TransportError:
            return False
        if response.status_code != 200:
            return False
        answers.append(response)
        return True

    wait_until(answered, timeout=timeout, process=process, log=log, what=url)
    return answers[-1]


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the process's whole group, then SIGKILL it if it has not exited in time."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    # Children (uvicorn workers) may outlive the leader for a moment: make sure none remain.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=timeout)


@contextmanager
def running(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log: Path,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` in a new session with its output in `log`; stop its group on exit."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            stop_process_group(process)


@dataclass
class Server:
    url: str
    log: Path
    process: subprocess.Popen[bytes]


@contextmanager
def serve(folder: Path, **settings: str) -> Iterator[Server]:
    """gradlab as `make run` starts it (`python -m app`), on a free loopback port with these
    GRADLAB_* settings; stopped on exit, with everything it started."""
    port = free_port()
    log = folder / "server.log"
    env = clean_env(GRADLAB_HOST=LOOPBACK, GRADLAB_PORT=str(port), **settings)
    with running([sys.executable, "-m", "app"], env=env, cwd=ROOT, log=log) as process:
        url = f"http://{LOOPBACK}:{port}"
        wait_for_url(f"{url}/healthz", timeout=30, process=process, log=log)
        yield Server(url, log, process)
