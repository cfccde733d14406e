"""`make run` serves the app for real: /healthz answers ok and /docs is the Swagger UI."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from support import LOOPBACK, clean_env, free_port, running, wait_for_url, wait_until

ROOT = Path(__file__).resolve().parent.parent

# `make run` may first install the project into .venv (quietly, from the local index).
STARTUP_TIMEOUT = 120.0


@pytest.mark.slow
def test_make_run_serves_healthz_and_docs(tmp_path: Path) -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    port = free_port()
    env = clean_env(GRADLAB_HOST=LOOPBACK, GRADLAB_PORT=str(port))
    base = f"http://{LOOPBACK}:{port}"
    log = tmp_path / "make-run.log"

    with running([make, "run"], env=env, cwd=ROOT, log=log) as server:
        health = wait_for_url(f"{base}/healthz", timeout=STARTUP_TIMEOUT, process=server, log=log)
        assert health.json() == {"status": "ok"}

        docs = httpx.get(f"{base}/docs", timeout=5.0)
        assert docs.status_code == 200
        assert docs.headers["content-type"].startswith("text/html")
        assert "swagger-ui" in docs.text.lower()

    assert server.poll() is not None


def test_wrong_settings_stop_the_server_with_one_line_each_in_their_variables_names() -> None:
    # A review found a 20-line pydantic traceback naming the field `port`, and a misspelt
    # GRADLAB_TIME_LIMIT silently ignored.
    env = clean_env(
        gradlab_port="abc",  # pydantic takes any case, and so does the message
        GRADLAB_WORKERS="0",
        GRADLAB_TIME_LIMIT_SECONDS="inf",
        GRADLAB_TIME_LIMIT="5",
        GRADLAB_LOG_LEVEL="WARNING",  # upper case is taken, as uvicorn takes it
        GRADLAB_MAX_EXPR_DEPTH="100000",  # evaluation recurses: a review found Python's recursion error reached
    )
    result = subprocess.run(
        [sys.executable, "-m", "app"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "gradlab: cannot start, the settings are wrong:",
        "  gradlab_port='abc': Input should be a valid integer, unable to parse string as an integer",
        "  GRADLAB_WORKERS='0': Input should be greater than or equal to 1",
        "  GRADLAB_MAX_EXPR_DEPTH='100000': Input should be less than or equal to 200",
        "  GRADLAB_TIME_LIMIT_SECONDS='inf': Input should be a finite number",
        "  GRADLAB_TIME_LIMIT is not a setting; did you mean GRADLAB_TIME_LIMIT_SECONDS?",
    ]


@pytest.mark.parametrize("host", ["127.0.0.2", "::"])
def test_the_health_check_asks_the_address_the_server_listens_on(host: str, tmp_path: Path) -> None:
    # A review found it always asking 127.0.0.1: a server on another address, or on every IPv6
    # one, was never healthy. Settings in lower case are read as the server reads them.
    if host == "::" and not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    port = free_port()
    env = clean_env(gradlab_host=host, gradlab_port=str(port))
    log = tmp_path / "server.log"

    def healthy() -> bool:
        probe = subprocess.run([sys.executable, "-m", "app.healthcheck"], env=env, cwd=ROOT, timeout=15)
        return probe.returncode == 0

    assert not healthy(), "healthy with no server"
    with running([sys.executable, "-m", "app"], env=env, cwd=ROOT, log=log) as server:
        wait_until(healthy, timeout=STARTUP_TIMEOUT, process=server, log=log, what="the health check")
