"""GET /ops and the check's function entries, as a client sees them over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import httpx
import pytest
from support import serve

from app.examples import EXAMPLES
from app.schemas import CheckOptions, Dtype, LeafSpec
from engine.check_options import MODES
from engine.spec import DTYPES
from engine.values import INITS

# The catalog API.md promises, at least.
REQUIRED_OPS = [
    *("add", "sub", "mul", "div", "neg", "pow", "matmul"),
    *("exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "maximum", "minimum"),
    *("sum", "mean", "max", "min", "reshape", "transpose", "broadcast_to"),
    *("softmax", "log_softmax", "logsumexp", "ones_like", "zeros_like", "mse_loss", "cross_entropy"),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    folder: Path = tmp_path_factory.mktemp("catalog")
    with serve(folder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def test_ops_lists_the_catalog_with_grad_fn_and_rule(client: httpx.Client) -> None:
    ops = {op["name"]: op for op in client.get("/ops").json()}
    assert set(REQUIRED_OPS) <= set(ops)
    for name in REQUIRED_OPS:
        assert ops[name]["syntax"] and ops[name]["grad_fn"] and ops[name]["rule"], name
    assert ops["mul"]["grad_fn"] == "MulBackward0"
    assert ops["max"]["grad_fn"] == "AmaxBackward0"
    assert "RsubBackward1" in ops["sub"]["grad_fn"]
    assert ops["sum"]["params"] == {"axis": None, "keepdims": False}
    assert ops["reshape"]["params"] == {"shape": "required"}


def test_a_call_with_several_outputs_is_checked_with_its_node_names(client: httpx.Client) -> None:
    answer = client.post("/backward", json=EXAMPLES["seed_multiple_outputs"]["value"]).json()
    [entry] = answer["check"]["functions"]
    assert entry["function"] == "ExtendedCustomFunction" and entry["node"] == ["z", "xx", "yy", "xy"]
    assert entry["passed"] is True
    # d/dx of 10 (x + y)² is 20 (x + y): by hand, from the three views of the same gradient.
    expected = [20 * (x + y) for x, y in ((1, 10), (2, 20), (3, 30))]
    for field in ("hand_written", "numerical", "autodiff"):
        assert entry["inputs"]["x"][field] == pytest.approx(expected, rel=1e-9), field
    assert sum("correct here, where grad_" in w for w in answer["warnings"]) == 3


def test_a_wrong_backward_is_named_with_its_input_and_worst_element(client: httpx.Client) -> None:
    answer = client.post("/backward", json=EXAMPLES["wrong_backward"]["value"]).json()
    assert answer["check"]["passed"] is False
    [entry] = answer["check"]["functions"]
    x = entry["inputs"]["x"]
    assert entry["function"] == "XSquaredSin" and x["passed"] is False
    assert x["message"].startswith("XSquaredSin: grad_x[")
    assert x["worst_index"] is not None and len(x["worst_index"]) == 1


def test_the_schemas_literals_are_the_engines_lists() -> None:
    # Written twice, as pydantic needs its Literals spelled out: kept in step here.
    init, _ = get_args(LeafSpec.model_fields["init"].annotation)  # Literal[...] | None
    assert get_args(init) == INITS
    assert get_args(Dtype) == DTYPES
    assert get_args(CheckOptions.model_fields["mode"].annotation) == MODES


def test_the_docs_show_a_real_answer_and_describe_its_fields(client: httpx.Client) -> None:
    # A review: the 200's example was Swagger's filler ("additionalProp1"), and most fields of the
    # answer had no description. The example is the seed example's answer, nulls and all.
    schema = client.get("/openapi.json").json()
    example = schema["paths"]["/backward"]["post"]["responses"]["200"]["content"]["application/json"]["example"]
    answered = client.post("/backward", json=EXAMPLES["seed_sum"]["value"]).json()
    assert example == answered and example["tensors"]["x"]["grad"] == [220.0, 440.0, 660.0]
    assert example["tensors"]["x"]["grad_fn"] is None and example["check"]["passed"] is True
    for name in ("TensorReport", "TensorCheck", "InputCheck", "FunctionCheck", "CheckReport", "OpInfo", "ExampleInfo"):
        fields = schema["components"]["schemas"][name]["properties"]
        assert [f for f, spec in fields.items() if not spec.get("description")] == [], name
