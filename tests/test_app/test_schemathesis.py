"""Schemathesis against the live `/openapi.json` of a real server: every answer is documented.

One uvicorn process serves the module, with small limits (a 1 s time limit, small tensors, a
cheap check) so that generated requests stay fast. Schemathesis' CLI (`st run`) loads the
schema the server really serves and runs its four phases on every operation: the schema's own
examples (the Swagger UI examples of `POST /backward`), the coverage phase (boundary and
near-miss values, missing and unexpected parameters, undeclared methods), Hypothesis fuzzing
with schema-valid and schema-invalid data, and a stateful phase (`GET /examples` feeding
`GET /examples/{name}`). Each answer goes through every check that applies to this API: no
5xx, a documented status code, a documented content type, a body valid against the documented
schema, documented headers, schema-invalid data rejected with a 4xx, schema-valid data never
refused for its shape, undeclared methods answered 405, and an answer within
`MAX_RESPONSE_TIME`.

The CLI rather than `schemathesis.pytest.from_fixture`: with pytest 9 the lazy loader fails
before generating anything (`'Function' object has no attribute '_nodeid'`, schemathesis
4.32.5), and a schema loaded at collection time could not be the live one. The run's NDJSON
event stream gives every request sent, its answer and every check's outcome; the assertions
are made on those.

`positive_data_acceptance` is told that 413 and 422 are acceptable for a schema-valid body:
the JSON schema says what a graph looks like, not that its names exist or its expressions
parse, so a schema-valid spec may still be invalid (422, documented) or over a limit (413,
documented). For `GET /examples/{name}` any string is schema-valid, and a name that is not an
example is answered 404, as documented. `negative_data_rejection` is told that 413 is a
rejection too: a schema-violating body over `GRADLAB_MAX_BODY_BYTES` is refused by the
body-size limit before anything reads it (seeds 1, 2, 4 and 5 generate one).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import clean_env, log_tail, serve

TIME_LIMIT = 1.0  # GRADLAB_TIME_LIMIT_SECONDS: generated graphs are small; none may hold the server longer
MAX_RESPONSE_TIME = 5.0  # seconds: the time limit, plus room for a loaded CI machine
SEED = 20240601  # generation is reproducible: a failure prints the same request every run
BACKWARD_EXAMPLES = 500  # Hypothesis examples for POST /backward in the fuzzing phase (valid and invalid)
OTHER_EXAMPLES = 40  # and for each GET operation (those without parameters stop after a few)
MIN_REQUESTS = 500  # across all operations
MIN_BACKWARD_REQUESTS = 300
UNDECLARED = "undeclared method"  # requests with a method the schema does not document for the path
RUN_TIMEOUT = 300  # seconds for the whole schemathesis run (it takes about 20)
SETTINGS = {
    "GRADLAB_TIME_LIMIT_SECONDS": str(TIME_LIMIT),
    "GRADLAB_MAX_BODY_BYTES": "20000",
    "GRADLAB_MAX_NODES": "16",
    "GRADLAB_MAX_FUNCTIONS": "4",
    "GRADLAB_MAX_TENSOR_ELEMENTS": "256",
    "GRADLAB_MAX_TOTAL_ELEMENTS": "20000",
    "GRADLAB_MAX_CHECK_EVALUATIONS": "2000",
    "GRADLAB_AUTO_FULL_CHECK_EVALUATIONS": "500",
    "GRADLAB_MAX_EXPR_LENGTH": "200",
    "GRADLAB_MAX_EXPR_DEPTH": "16",
    "GRADLAB_LOG_LEVEL": "warning",
}
# The checks that apply to an API without authentication or resources to create and delete.
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "max_response_time",
]
# Schemathesis' default for negative_data_rejection, plus 413 (see above).
NEGATIVE_STATUSES = ", ".join(
    f'"{status}"' for status in [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5xx"]
)
CONFIG = f"""
seed = {SEED}
workers = 1
request-timeout = 30
continue-on-failure = true

[generation]
mode = "all"
max-examples = {OTHER_EXAMPLES}
database = "none"

[phases.examples]
enabled = true
[phases.coverage]
enabled = true
[phases.fuzzing]
enabled = true
[phases.stateful]
enabled = true

[checks]
enabled = false
max_response_time = {MAX_RESPONSE_TIME}
not_a_server_error = {{ enabled = true, expected-statuses = ["2xx", "3xx", "4xx"] }}
status_code_conformance = {{ enabled = true }}
content_type_conformance = {{ enabled = true }}
response_schema_conformance = {{ enabled = true }}
response_headers_conformance = {{ enabled = true }}
negative_data_rejection = {{ enabled = true, expected-statuses = [{NEGATIVE_STATUSES}] }}
positive_data_acceptance = {{ enabled = true, expected-statuses = ["2xx", "413", "422"] }}
missing_required_header = {{ enabled = true }}
unsupported_method = {{ enabled = true }}
allow_header_conformance = {{ enabled = true }}

[[operations]]
include-path = "/backward"
generation = {{ max-examples = {BACKWARD_EXAMPLES} }}

[[operations]]
include-path = "/examples/{{name}}"
checks = {{ positive_data_acceptance = {{ expected-statuses = ["2xx", "404"] }} }}
"""


@dataclass
class Run:
    """What one `st run` did: its exit code, output, summary report and every request it sent."""

    returncode: int
    output: str
    seconds: float
    report: dict[str, Any]
    requests: Counter[tuple[str, int]] = field(default_factory=Counter)  # (operation, status) -> count
    checks: Counter[tuple[str, str]] = field(default_factory=Counter)  # (check, outcome) -> count
    server_errors: list[str] = field(default_factory=list)  # "POST /backward: 500 for <body>"
    operations: set[str] = field(default_factory=set)  # "POST /backward", ...: what the schema documents

    def describe(self) -> str:
        per_operation: Counter[str] = Counter()
        for (label, _), n in self.requests.items():
            per_operation[label] += n
        statuses: Counter[int] = Counter()
        for (_, status), n in self.requests.items():
            statuses[status] += n
        return (
            f"{sum(per_operation.values())} requests in {self.seconds:.1f} s; per operation {dict(per_operation)}; "
            f"per status {dict(sorted(statuses.items()))}; checks {dict(sorted(self.checks.items()))}"
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    with serve(tmp_path_factory.mktemp("schemathesis_server"), **SETTINGS) as running_server:
        yield running_server.url, running_server.log


def _body(interaction: dict[str, Any]) -> str:
    encoded = (interaction.get("request") or {}).get("body") or {}
    raw = base64.b64decode(encoded.get("$base64", "")) if isinstance(encoded, dict) else b""
    return raw.decode("utf-8", errors="replace")[:500]


@pytest.fixture(scope="module")
def run(server: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Run:
    """`st run` against the live schema, once for the module."""
    url, log = server
    work = tmp_path_factory.mktemp("schemathesis_run")
    config = work / "schemathesis.toml"
    config.write_text(CONFIG)
    report, events = work / "report.json", work / "events.ndjson"
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color"]
    command += ["run", f"{url}/openapi.json", "--report", "json,ndjson"]
    command += ["--report-json-path", str(report), "--report-ndjson-path", str(events)]
    start = time.monotonic()
    # cwd: the temporary directory, so that nothing (reports, a Hypothesis database) lands in the repo.
    done = subprocess.run(
        command, cwd=work, env=clean_env(), capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )
    seconds = time.monotonic() - start
    output = done.stdout + done.stderr
    assert report.exists() and events.exists(), f"schemathesis wrote no report:\n{output}"
    result = Run(done.returncode, output, seconds, json.loads(report.read_text()))
    paths = httpx.get(f"{url}/openapi.json", timeout=10).json()["paths"]
    documented = {f"{method.upper()} {path}" for path, item in paths.items() for method in item}
    result.operations = documented
    for line in events.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if finished is None:
            continue
        recorder = finished["recorder"]
        cases = recorder.get("cases", {})
        for case_id, interaction in recorder.get("interactions", {}).items():
            # The operation, also for the stateful phase, whose scenarios chain several.
            case = cases[case_id]["value"]
            label = f"{case['method'].upper()} {case['path']}"
            if label not in documented:
                label = UNDECLARED  # the coverage phase's probes: PUT /ops, OPTIONS /backward, ...
            response = interaction.get("response")
            status = response["status_code"] if response else 0
            result.requests[label, status] += 1
            if status >= 500:
                result.server_errors.append(f"{label}: {status} for {_body(interaction)}")
        for outcomes in recorder.get("checks", {}).values():
            for outcome in outcomes:
                result.checks[outcome["name"], outcome["status"]] += 1
    assert result.requests, f"schemathesis sent no request:\n{output}\n--- server log ---\n{log_tail(log)}"
    return result


def test_no_failures(run: Run, server: tuple[str, Path]) -> None:
    """The CLI's verdict: every check passed on every request, and the run completed."""
    _, log = server
    failures = run.report["failures"]
    assert run.returncode == 0 and not failures and not run.report["errors"], (
        f"schemathesis exit code {run.returncode}; failures {json.dumps(failures)[:2000]}\n"
        f"{run.output[-12000:]}\n--- server log ---\n{log_tail(log)}"
    )
    assert run.report["complete"] and run.report["stop_reason"] == "completed", run.output[-4000:]
    assert run.report["test_cases"]["errored"] == 0, run.output[-4000:]


def test_no_server_error(run: Run) -> None:
    assert not run.server_errors, "\n".join(run.server_errors[:20])


def test_every_check_ran_and_none_failed(run: Run) -> None:
    assert {name for name, _ in run.checks} == set(CHECKS), run.describe()
    for name in CHECKS:
        assert run.checks[name, "success"] >= MIN_REQUESTS, run.describe()
    failed = {key: n for key, n in run.checks.items() if key[1] not in {"success", "skip"}}
    assert not failed, run.describe()


def test_enough_requests_reached_every_operation(run: Run) -> None:
    per_operation: Counter[str] = Counter()
    for (label, _), n in run.requests.items():
        per_operation[label] += n
    operations = run.report["operations"]
    assert operations["tested"] == operations["total"] == len(run.operations) == 5, run.describe()
    assert set(per_operation) == run.operations | {UNDECLARED}, run.describe()
    assert sum(per_operation.values()) >= MIN_REQUESTS, run.describe()
    # Every undeclared method is answered 405 (the unsupported_method check), never 5xx.
    assert {status for label, status in run.requests if label == UNDECLARED} == {405}, run.describe()
    assert per_operation["POST /backward"] >= MIN_BACKWARD_REQUESTS, run.describe()
    # POST /backward answered on both sides: graphs computed (their answers validated against
    # BackwardResponse) and graphs refused.
    assert run.requests["POST /backward", 200] >= 5, run.describe()
    assert run.requests["POST /backward", 422] >= 50, run.describe()
    print(run.describe())
