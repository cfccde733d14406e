"""Every error answer in FastAPI's shape: {"detail": [{"loc": [...], "msg": "...", "type": "..."}]}."""

from __future__ import annotations

import difflib
import json
import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from app.schemas import BackwardRequest, CheckOptions, FunctionSpec, LeafSpec, NodeSpec, RootSpec, Statement
from engine.errors import SpecError

log = logging.getLogger("gradlab")


class ErrorJSON(JSONResponse):
    """JSON as FastAPI writes it, but a name the request sent with a lone surrogate in it ("\\ud800",
    legal in JSON, no character) written back escaped, as the request had it: UTF-8 has no bytes
    for it, and the answer was a 500."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def detail(status: int, loc: list[str | int], msg: str, kind: str) -> JSONResponse:
    return ErrorJSON({"detail": [{"loc": loc, "msg": msg, "type": kind}]}, status_code=status)


async def spec_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, SpecError)
    return detail(error.status, list(error.loc), error.msg, error.kind)


async def validation_error(request: Request, error: Exception) -> JSONResponse:
    # FastAPI's default answer echoes each error's `input`: a NaN or Infinity literal there (Python's
    # json accepts them) made the answer fail to encode, a 500; a big body came back whole. Keep the
    # contract's loc, msg and type, and say what the JSON parser found.
    assert isinstance(error, RequestValidationError)
    errors = error.errors()
    read = errors[: 3 * MOST_ERRORS]  # a union's members make up to 3 of them, said as one
    items = []
    for e in read:
        msg = e["msg"]
        if e["type"] == "json_invalid" and isinstance(e.get("ctx"), dict) and "error" in e["ctx"]:
            where = _place_in(getattr(error, "body", None), e["loc"][1]) if len(e["loc"]) > 1 else ""
            msg = f"{msg}: {e['ctx']['error']}{where}"
        if e["type"] == "model_attributes_type" and list(e["loc"]) == ["body"]:
            msg = _not_json(request) or msg
        items.append({"loc": list(e["loc"]), "msg": msg, "type": e["type"]})
    body = getattr(error, "body", None)  # the parsed JSON, once it parses
    if isinstance(body, dict | list):
        items = _in_the_request(items, [e.get("input") for e in read], body)
    for item in items:
        if item["type"] == "extra_forbidden":  # at its place in the request, union members' names gone
            item["msg"] += _which_fields(item["loc"])
    if len(read) < len(errors) or len(items) > MOST_ERRORS:
        items = items[: min(len(items) - 1, MOST_ERRORS)]  # the last may be part of a union's errors
        items.append({"loc": ["body"], "msg": "and more errors, not listed", "type": "too_many_errors"})
    return ErrorJSON({"detail": items}, status_code=422)


MOST_ERRORS = 100  # listed in one answer, so that a body of thousands of bad values is answered quickly


def _which_fields(loc: list[Any]) -> str:
    """For a key no field has: the fields of the object it is in, the nearest first if it looks
    like a typo of one (require_grad, values)."""
    where = [part for part in loc[1:-1] if isinstance(part, str)]  # names and fields, no list indices
    key = str(loc[-1])
    for pattern, model, what in _OBJECTS:
        if len(pattern) == len(where) and all(p in ("*", w) for p, w in zip(pattern, where, strict=True)):
            fields = list(model.model_fields)
            near = difflib.get_close_matches(key, fields, n=1, cutoff=0.7) or [f for f in fields if f.startswith(key)]
            said = f" (did you mean '{near[0]}'?)" if near else ""
            if key == "retain_grad" and model is LeafSpec:
                said = " (a leaf's .grad is kept without it, as in PyTorch)"
            return f": {what} has no field '{key}'{said}; its fields: {', '.join(fields)}"
    return ""


# Where each kind of object of a request lies: its loc's names and fields ("*" for any name).
_OBJECTS: list[tuple[tuple[str, ...], type[BaseModel], str]] = [
    ((), BackwardRequest, "the request"),
    (("leaves", "*"), LeafSpec, "a leaf"),
    (("nodes",), NodeSpec, "a node"),
    (("functions", "*"), FunctionSpec, "a function"),
    (("functions", "*", "forward"), Statement, "a statement"),
    (("functions", "*", "backward"), Statement, "a statement"),
    (("backward",), RootSpec, "a backward root"),
    (("check",), CheckOptions, "check"),
]


def _place_in(document: Any, offset: Any) -> str:
    """Where the JSON parser stopped in `document` (what FastAPI gave it), as a person finds it in a
    text box: line and column (from 1), the character's offset (from 0, as the parser counts), and
    what the usual slips there are."""
    if not isinstance(offset, int) or not isinstance(document, str | bytes):
        return f" at character {offset}"
    text = document.decode("utf-8", "replace") if isinstance(document, bytes) else document
    before = text[:offset]
    line, column = before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1
    ahead = text[offset : offset + 5]
    hint = ""
    if ahead.startswith(("True", "False", "None")):
        hint = ": JSON writes true, false and null, in lower case"
    elif ahead.startswith("'"):
        hint = ": JSON quotes strings and names with double quotes"
    elif ahead[:1] in ("]", "}"):
        hint = ": no comma goes after the last item of a list or an object"
    return f" at line {line}, column {column} (character {offset}){hint}"


def _not_json(request: Request) -> str | None:
    """Why a body is no object, when the reason is its content type: FastAPI reads JSON only when
    told so, and a body sent as a form or as text (curl -d, requests' data=) arrives as a string."""
    given = request.headers.get("content-type")
    if given is not None and given.split(";")[0].strip().lower().endswith(("/json", "+json")):
        return None
    said = f"is {given!r}" if given else "is missing"
    return (
        f"the body must be JSON, sent with the header content-type: application/json (this request's {said}); "
        "from Python, httpx.post(url, json=body), from curl, -H 'content-type: application/json'"
    )


def _in_the_request(items: list[dict[str, Any]], inputs: list[Any], body: Any) -> list[dict[str, Any]]:
    """Pydantic puts the name of each member of a union in an error's loc ("RootSpec",
    "list[str]"), a place that the request does not have. Drop those names; where the value is
    of one member's kind, drop the others' errors (a root given as an object is no list);
    where it is of none, say so once."""
    unions: dict[tuple[Any, ...], dict[str, list[dict[str, Any]]]] = {}
    kept = []
    for item, found in zip(items, inputs, strict=True):
        loc, union, member = _without_members(item["loc"], item["type"] == "missing", found, body)
        item = {**item, "loc": loc}
        if union is None:
            kept.append(item)
        else:
            unions.setdefault(union, {}).setdefault(member, []).append(item)
    for union, members in unions.items():
        # A member whose only error is that the value is not of its type, at the union's place.
        other_kind = {m for m, errors in members.items() if all(_not_of_type(e, union) for e in errors)}
        if len(other_kind) < len(members):
            kept.extend(e for m, errors in members.items() if m not in other_kind for e in errors)
        else:
            wanted = [e["msg"].removeprefix("Input should be ") for errors in members.values() for e in errors]
            first = next(iter(members.values()))[0]
            either = ", ".join(wanted[:-1]) + " or " + wanted[-1] if len(wanted) > 1 else wanted[0]
            kept.append({"loc": list(union), "msg": f"Input should be {either}", "type": first["type"]})
    return kept


def _without_members(
    loc: list[Any], missing: bool, found: Any, body: Any
) -> tuple[list[Any], tuple[Any, ...] | None, str]:
    """The loc without union members' names; the place of the first union, and its member.

    A part of the loc is a place of the request if the request has it; else a member's name,
    or a field left out. Where a key of the request is also a member's name ({"RootSpec": 1}
    for a root), the reading whose place holds what pydantic found there wins."""

    def walk(i: int, value: Any, clean: list[Any], union: tuple[Any, ...] | None, member: str, exact: bool) -> Any:
        if i == len(loc):
            return (clean, union, member) if value is found or (not exact and value == found) else None
        part = loc[i]
        like_a_member = isinstance(part, str) and _MEMBER.fullmatch(part) is not None
        if like_a_member and _member_fits(part, loc[i + 1 :]):  # read as a member's name first
            read = walk(i + 1, value, clean, union or tuple(clean), member or part, exact)
            if read is not None:
                return read
        inside = _inside(value, part)
        if inside is not _ABSENT:
            read = walk(i + 1, inside, [*clean, part], union, member, exact)
            if read is not None:
                return read
        if missing and i == len(loc) - 1:  # a field left out: what was found is the object it is missing from
            read = walk(i + 1, value, [*clean, part], union, member, exact)
            if read is not None:
                return read
        if like_a_member:
            return None  # tried as a member, or one that cannot stand here
        return walk(i + 1, value, clean, union or tuple(clean), member or str(part), exact)

    # The very object first: two keys may hold equal values ({"Scale": [2], "int": [2]}).
    for exact in (True, False):
        read = walk(1, body, list(loc[:1]), None, "", exact)
        if read is not None:
            return read
    return list(loc), None, ""


_ABSENT = object()


def _member_fits(name: str, after: list[Any]) -> bool:
    """Whether a member of this name could be followed by `after`: nothing lies inside a
    number or a string, and a list's parts are indices."""
    if name in _SCALARS:
        return not after
    if "[" in name and name.startswith(("list[", "tuple[")):
        return not after or isinstance(after[0], int)
    return True


_SCALARS = frozenset({"str", "int", "float", "bool", "none"})
# How pydantic names a union's members in a loc: a model's class name, a type, a generic.
_MEMBER = re.compile(r"[A-Z]\w*|str|int|float|bool|none|[a-z-]+\[.*\]")


def _inside(value: Any, part: Any) -> Any:
    """The request's value at `part` of `value`, or _ABSENT."""
    if isinstance(value, dict) and isinstance(part, str):
        return value.get(part, _ABSENT)
    if isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
        return value[part]
    return _ABSENT


def _not_of_type(item: dict[str, Any], union: tuple[Any, ...]) -> bool:
    return tuple(item["loc"]) == union and str(item["type"]).endswith("_type")


async def http_error(request: Request, error: Exception) -> JSONResponse:
    # FastAPI's own HTTP errors (404, 405, a body it could not parse) carry a string detail.
    assert isinstance(error, HTTPException)
    if isinstance(error.detail, list):
        return ErrorJSON({"detail": error.detail}, status_code=error.status_code, headers=error.headers)
    if error.status_code == 400 and error.__cause__ is not None:
        # FastAPI turns every failure of json.loads but a syntax error into a bare 400 "There was an
        # error parsing the body": deep nesting (RecursionError, so `too_deep` never saw it) or a number
        # of more than 4300 digits. Say which, as the 422 json_invalid of a syntax error does.
        cause = error.__cause__
        if isinstance(cause, RecursionError):
            return await too_deep(request, cause)
        reason = str(cause).split(";")[0]
        return detail(422, ["body"], f"the JSON body could not be parsed: {reason}", "json_invalid")
    loc: list[str | int] = ["body"] if error.status_code == 400 else ["path"]
    said = str(error.detail)
    if error.status_code == 405:  # a browser opening /backward: say what goes there
        allowed = {key.lower(): value for key, value in (error.headers or {}).items()}.get("allow")
        said += f": {request.url.path} takes {allowed}"
        said += " (a JSON body, posted: see /docs)" if request.url.path == "/backward" else " (see /docs)"
    elif error.status_code == 404:
        said += " (the API is described at /docs)"
    response = detail(error.status_code, loc, said, "http_error")
    if error.headers:
        response.headers.update(error.headers)
    return response


async def too_deep(request: Request, error: Exception) -> JSONResponse:
    # json.loads gives up on deeply nested arrays with a RecursionError.
    return detail(422, ["body"], "the JSON body nests too deeply to parse", "json_invalid")


async def unexpected(request: Request, error: Exception) -> JSONResponse:
    # Every failure a request can cause is answered above; this is a bug of ours. The client gets
    # the contract's shape without internals, the log gets the traceback.
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return detail(500, ["body"], f"internal error ({type(error).__name__}); please report it", "internal_error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(SpecError, spec_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(RecursionError, too_deep)
    app.add_exception_handler(Exception, unexpected)
