"""The service's settings, read once from `GRADLAB_*` environment variables."""

import difflib
import os
from dataclasses import fields
from functools import lru_cache
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.limits import Limits


class Settings(BaseSettings):
    """Every limit a request is held to, plus where and how the server runs.

    The defaults fit a class on a 2-core server: a request may not hold the server for long
    or take much of its memory, a worker computes few at once, and answers stay small enough
    to read in a notebook.
    """

    model_config = SettingsConfigDict(env_prefix="GRADLAB_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address the server listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port the server listens on.")
    workers: int = Field(default=1, ge=1, le=64, description="Uvicorn worker processes.")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        default="info", description="Log level of the server: critical, error, warning, info or debug."
    )
    max_body_bytes: int = Field(default=2_000_000, ge=1_000, description="Largest request body, in bytes.")
    max_nodes: int = Field(
        default=Limits.max_nodes,
        ge=1,
        description="Most nodes in a graph, and leaves, backward roots, statements in a function, and a function's "
        "inputs, outputs, saved names and params, and a node's names. Counted before anything else is read of them.",
    )
    max_functions: int = Field(default=Limits.max_functions, ge=0, description="Most custom functions in a request.")
    max_tensor_elements: int = Field(
        default=Limits.max_tensor_elements, ge=1, description="Most elements in any one tensor."
    )
    max_total_elements: int = Field(
        default=Limits.max_total_elements, ge=1, description="Most elements allocated by one evaluation of the graph."
    )
    max_check_evaluations: int = Field(
        default=Limits.max_check_evaluations,
        ge=0,
        description="Most forward evaluations the finite-difference check may plan (retries at kinks: up to 3x).",
    )
    auto_full_check_evaluations: int = Field(
        default=Limits.auto_full_check_evaluations,
        ge=0,
        description="Check mode auto runs full up to this many evaluations, fast above.",
    )
    max_ndim: int = Field(default=Limits.max_ndim, ge=1, le=32, description="Most dimensions of a tensor.")
    max_answer_elements: int = Field(
        # A tensor at max_tensor_elements comes back with its gradient, and room for as much again:
        # x, y = f(x) and its loss (3,000,001 numbers, over a limit of 3 million until a review).
        default=4_000_000,
        ge=1,
        description="Most numbers in one answer (values, gradients and the check's arrays).",
    )
    max_expr_length: int = Field(default=Limits.max_expr_length, ge=1, description="Longest expression, in characters.")
    max_total_expr_length: int = Field(
        default=Limits.max_total_expr_length,
        ge=1,
        description="Most characters in all the expressions of one request, nodes and custom functions together.",
    )
    max_expr_depth: int = Field(
        default=Limits.max_expr_depth,
        ge=1,
        le=200,  # Python's parser takes 200 nested brackets; evaluation recurses, within its stack
        description="Deepest nesting of an expression, counting the expressions of the custom functions it calls.",
    )
    max_concurrent_requests: int = Field(
        default=2,
        ge=1,
        description="Requests each worker computes at once; the others wait, within the time limit, or get 503.",
    )
    time_limit_seconds: float = Field(
        default=Limits.time_limit_seconds,
        gt=0,
        allow_inf_nan=False,
        description=(
            "Longest time one request may take from the last byte of its body: waiting for a place, "
            "validating, computing and writing its answer."
        ),
    )
    answer_cache_bytes: int = Field(
        default=64_000_000,
        ge=0,
        description="Bytes of answers kept to answer a repeated identical POST /backward, in each worker "
        "process (each has its own cache); none over a quarter of it; 0 turns the cache off.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value  # INFO as info, as uvicorn takes it

    def limits(self) -> Limits:
        """The engine's limits: each has a setting of the same name (defaults live in Limits)."""
        return Limits(**{f.name: getattr(self, f.name) for f in fields(Limits)})


@lru_cache
def get_settings() -> Settings:
    return Settings()


def settings_problems() -> list[str]:
    """What is wrong with the GRADLAB_* variables, one line each, in their names: a value a
    setting cannot take, or a variable that is no setting (a misspelling is otherwise ignored)."""
    problems = []
    environ = os.environ  # what Settings() reads
    given = {name.upper(): (name, value) for name, value in environ.items()}  # as pydantic reads them: any case
    try:
        Settings()
    except ValidationError as error:
        for e in error.errors():
            variable = f"GRADLAB_{str(e['loc'][0]).upper()}" if e["loc"] else "GRADLAB_*"
            name, value = given.get(variable, (variable, ""))
            problems.append(f"{name}={value!r}: {e['msg']}")
    known = {f"GRADLAB_{name.upper()}" for name in Settings.model_fields}
    for variable in sorted(v for v in environ if v.upper().startswith("GRADLAB_") and v.upper() not in known):
        close = difflib.get_close_matches(variable.upper(), known, n=1)
        problems.append(f"{variable} is not a setting{f'; did you mean {close[0]}?' if close else ''}")
    return problems
