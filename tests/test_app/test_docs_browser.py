"""Swagger UI at `/docs`, rendered by a real browser (headless Chromium), with no internet.

A classroom network may have no internet: `/docs` must work from the app's own assets. The
page is opened at the deep link of `POST /backward` (`/docs#/autograd/backward_backward_post`;
the app turns Swagger UI's `deepLinking` on), so that Swagger UI expands that operation and
renders its request-body examples list. The DOM Chromium dumps after the page settled must
show every operation with its summary, which only happens once swagger-ui-bundle.js has run
and fetched /openapi.json, and the examples dropdown with exactly the examples of
`app/examples.py`, in order, with their summaries; the body shown is the first example's.

Chromium writes a NetLog of every request it makes: the page's requests (the document, its
script, style sheet, icon and /openapi.json) must all go to the server on 127.0.0.1. Chromium
is also kept from reaching anything else (`--host-resolver-rules`, `--no-proxy-server`), so a
request to a CDN would fail and show up in the NetLog rather than leave the machine.

The browser tests skip where Debian's `chromium` is not installed (`.ci/run` installs it); the
check of the HTML that /docs serves runs everywhere.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from support import LOOPBACK, clean_env, serve, stop_process_group

from app.examples import EXAMPLES

CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
DEEP_LINK = "/docs#/autograd/backward_backward_post"
VIRTUAL_TIME_BUDGET_MS = 30_000  # virtual time: the page's timers run fast; network waits are real
BROWSER_TIMEOUT = 120  # seconds of real time for one page render


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("docs_browser"), GRADLAB_LOG_LEVEL="warning") as running_server:
        yield running_server.url


# --- what the browser rendered ---------------------------------------------------------


@dataclass
class Operation:
    method: str = ""
    path: str = ""
    summary: str = ""
    is_open: bool = False


class SwaggerPage(HTMLParser):
    """The parts of a rendered Swagger UI page the tests look at."""

    def __init__(self) -> None:
        super().__init__()
        self.operations: list[Operation] = []
        self.examples: list[tuple[str, str]] = []  # the examples dropdown: (option value, option text)
        self.example_body = ""  # the text of the request body example shown under it
        self.text: list[str] = []  # every text node
        self._capture: str | None = None  # where text goes: "method", "summary", "option", "body"
        self._capture_tag = ""
        self._in_examples_select = False
        self._body_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        classes = set(attributes.get("class", "").split())
        if self._body_depth:
            self._body_depth += tag == "pre"
            return
        if tag == "div" and "opblock" in classes:
            self.operations.append(Operation(is_open="is-open" in classes))
        elif "opblock-summary-method" in classes:
            self._start("method", tag)
        elif "opblock-summary-path" in classes and self.operations:
            self.operations[-1].path = attributes.get("data-path", "")
        elif "opblock-summary-description" in classes:
            self._start("summary", tag)
        elif tag == "option" and self._in_examples_select:
            self.examples.append((attributes.get("value", ""), ""))
            self._start("option", tag)
        elif tag == "select":
            self._in_examples_select = "examples-select-element" in classes
        elif tag == "pre" and "body-param__example" in classes and not self.example_body:
            self._body_depth = 1
            self._capture = "body"

    def _start(self, where: str, tag: str) -> None:
        self._capture, self._capture_tag = where, tag

    def handle_endtag(self, tag: str) -> None:
        if self._body_depth:
            self._body_depth -= tag == "pre"
            if not self._body_depth:
                self._capture = None
            return
        if tag == "select":
            self._in_examples_select = False
        if self._capture and tag == self._capture_tag:
            self._capture = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._capture == "method" and self.operations:
            self.operations[-1].method += data
        elif self._capture == "summary" and self.operations:
            self.operations[-1].summary += data
        elif self._capture == "option":
            value, label = self.examples[-1]
            self.examples[-1] = (value, label + data)
        elif self._capture == "body":
            self.example_body += data


@dataclass
class Render:
    dom: str
    page: SwaggerPage
    requests: list[str]  # every URL the page requested (the document, its assets, /openapi.json)
    browser_requests: list[str]  # Chromium's own background requests, not the page's


def page_requests(netlog: Path) -> tuple[list[str], list[str]]:
    """The URLs of the page's requests and of Chromium's own, from a NetLog file.

    A request made for the page (the top-level navigation, and what the page loads) carries the
    page's site in its network isolation key; Chromium's own (update checks, time sync) do not.
    """
    log = json.loads(netlog.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    page: list[str] = []
    browser: list[str] = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] != start_job or "url" not in params:
            continue
        key = str(params.get("network_isolation_key", ""))
        initiator = str(params.get("initiator", ""))
        is_page = f"://{LOOPBACK}" in key or initiator.startswith("http")
        (page if is_page else browser).append(params["url"])
    return page, browser


def render(url: str, work: Path) -> Render:
    """`url` rendered by headless Chromium: its DOM once the page settled, and its requests."""
    netlog = work / "netlog.json"
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        # Nothing but the loopback server is reachable, whatever the machine's network.
        "--no-proxy-server",
        f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOOPBACK}",
        f"--user-data-dir={work / 'profile'}",
        f"--log-net-log={netlog}",
        "--net-log-capture-mode=Default",
        "--dump-dom",
        f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
        url,
    ]
    errors = work / "chromium.log"
    with errors.open("wb") as stderr:
        # A session of its own: Chromium's zygote and renderer processes are stopped with it.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
            env=clean_env(),
        )
        try:
            dom, _ = process.communicate(timeout=BROWSER_TIMEOUT)
        finally:
            stop_process_group(process)
    output = errors.read_text(errors="replace")[-3000:]
    assert process.returncode == 0, f"chromium exited with {process.returncode}:\n{output}"
    text = dom.decode("utf-8", errors="replace")
    assert netlog.exists(), f"chromium wrote no NetLog:\n{output}"
    page = SwaggerPage()
    page.feed(text)
    page.close()
    requests, browser_requests = page_requests(netlog)
    return Render(text, page, requests, browser_requests)


@pytest.fixture(scope="module")
def rendered(server: str, tmp_path_factory: pytest.TempPathFactory) -> Render:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return render(server + DEEP_LINK, tmp_path_factory.mktemp("chromium"))


# --- the tests -------------------------------------------------------------------------


def test_swagger_ui_ran_and_lists_every_operation(rendered: Render, server: str) -> None:
    """Not a blank page: the operations are there, which takes swagger-ui-bundle.js and /openapi.json."""
    schema = httpx.get(f"{server}/openapi.json", timeout=10).json()
    expected = [
        (method.upper(), path, operation["summary"])
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]
    shown = [(op.method.strip(), op.path, op.summary.strip()) for op in rendered.page.operations]
    assert sorted(shown) == sorted(expected), rendered.dom[:3000]
    assert ("POST", "/backward", "Values, gradients and a finite-difference check of a graph") in shown
    text = " ".join(rendered.page.text)
    assert "Failed to load API definition" not in text
    assert "gradlab" in text


def test_deep_link_expands_backward_with_the_examples_dropdown(rendered: Render) -> None:
    opened = [(op.method.strip(), op.path) for op in rendered.page.operations if op.is_open]
    assert opened == [("POST", "/backward")], rendered.dom[:3000]
    offered = [(value, label.strip()) for value, label in rendered.page.examples]
    assert offered == [(name, example["summary"]) for name, example in EXAMPLES.items()], rendered.dom[:3000]
    # The body shown under the dropdown is the first example's, as JSON a student can send.
    first = next(iter(EXAMPLES.values()))
    assert json.loads(rendered.page.example_body) == first["value"], rendered.page.example_body[:2000]


def test_the_page_requests_nothing_but_the_server(rendered: Render, server: str) -> None:
    hosts = {urlsplit(url).hostname for url in rendered.requests}
    assert hosts == {LOOPBACK}, f"the page requested {rendered.requests}"
    paths = {urlsplit(url).path for url in rendered.requests}
    # The NetLog saw the page's requests: the document, Swagger UI's assets and the schema.
    assert {"/docs", "/openapi.json"} <= paths, rendered.requests
    assert any(path.endswith("/swagger-ui-bundle.js") for path in paths), rendered.requests
    assert any(path.endswith("/swagger-ui.css") for path in paths), rendered.requests


def test_docs_html_references_only_the_servers_own_assets(server: str) -> None:
    """The HTML of /docs itself: every script, style sheet and icon is served by the app."""
    response = httpx.get(f"{server}/docs", timeout=10)
    assert response.status_code == 200
    html = response.text
    assert not re.search(r"(https?:)?//[\w.-]+\.\w", html), "an absolute URL in /docs"
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert len(references) >= 3, html  # swagger-ui-bundle.js, swagger-ui.css, the icon
    for reference in references:
        url = urljoin(f"{server}/docs", reference)
        assert urlsplit(url).hostname == LOOPBACK, reference
        asset = httpx.get(url, timeout=10)
        assert asset.status_code == 200 and asset.content, reference
