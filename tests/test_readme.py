"""The README's commands and examples are the ones that work, with the answers they really give."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from support import serve

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("readme")) as running_server:
        yield running_server.url


def assert_same(got: Any, expected: Any, path: str = "") -> None:
    """Equal structure and strings; numbers equal up to float noise of the finite differences."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and got.keys() == expected.keys(), path
        for key in expected:
            assert_same(got[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), path
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert_same(g, e, f"{path}[{i}]")
    elif isinstance(expected, float) and not isinstance(expected, bool):
        assert isinstance(got, int | float), path
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9, err_msg=path)
    else:
        assert got == expected, path


def test_curl_example_gives_the_answer_shown(server: str) -> None:
    command = next(b for b in blocks("sh") if "curl" in b)
    words = shlex.split(command.replace("\\\n", " "))
    body = json.loads(words[words.index("-d") + 1])
    url = words[words.index("-X") + 2].replace("http://127.0.0.1:8000", server)
    answer = httpx.post(url, json=body, timeout=30).json()
    assert_same(answer, json.loads(blocks("json")[0]))


def test_httpx_example_prints_what_its_comments_say(server: str) -> None:
    code = next(b for b in blocks("python") if "import httpx" in b)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code.replace("http://127.0.0.1:8000", server), {})  # the README's own example
    expected = [line.split("# ")[1].split(":")[0] for line in code.splitlines() if "print(" in line]
    assert out.getvalue().splitlines() == expected


def test_engine_example_prints_what_its_comment_says() -> None:
    code = next(b for b in blocks("python") if "import engine as torch" in b)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, {})  # the README's own example
    comment = code.rsplit("# ", 1)[1].strip()
    assert out.getvalue().strip() == comment


def test_settings_table_lists_every_setting_with_its_default() -> None:
    rows = dict(re.findall(r"^\| `(GRADLAB_\w+)` \| `([^`]*)` \|", README, flags=re.M))
    expected = {f"GRADLAB_{name.upper()}": str(field.default) for name, field in Settings.model_fields.items()}
    assert rows == expected


def test_readme_names_the_two_commands() -> None:
    assert "make run" in README and "make test" in README and "docker compose up" in README
