"""Where the request contract's JSON Schema is stricter than the parser: a date is text.

The schema says `"type": "string", "format": "date"`, but pydantic's lax JSON mode also takes a
number as a Unix timestamp (`"birth_date": 0` becomes 1970-01-01): a guess no prescriber meant.
The date fields are found in the contract's own schema (not listed here), and checked on the
parsed body before the request is validated."""

from __future__ import annotations

from functools import cache
from typing import Any

from priorauth.request import Request
from priorauth.service.errors import Invalid

Path = tuple[str, ...]  # "[]" stands for every item of an array


@cache
def date_paths() -> tuple[Path, ...]:
    schema = Request.model_json_schema()
    defs = schema.get("$defs", {})
    found: list[Path] = []

    def walk(node: dict[str, Any], path: Path, depth: int = 0) -> None:
        if depth > 10:
            return
        ref = node.get("$ref")
        if isinstance(ref, str):
            walk(defs.get(ref.rsplit("/", 1)[-1], {}), path, depth + 1)
            return
        if node.get("format") == "date":
            found.append(path)
        for option in node.get("anyOf", []):
            walk(option, path, depth + 1)
        if isinstance(node.get("items"), dict):
            walk(node["items"], (*path, "[]"), depth + 1)
        for name, sub in node.get("properties", {}).items():
            walk(sub, (*path, name), depth + 1)

    walk(schema, ())
    return tuple(found)


def _field(path: Path, indexes: list[int]) -> str:
    out, i = "", 0
    for part in path:
        if part == "[]":
            out += f"[{indexes[i]}]"
            i += 1
        else:
            out += f".{part}" if out else part
    return out


def check_dates(body: Any) -> None:
    """Invalid naming the field when a date of the contract is given as anything but text."""

    def visit(value: Any, path: Path, rest: Path, indexes: list[int]) -> None:
        if not rest:
            if value is not None and not isinstance(value, str):
                field = _field(path, indexes)
                raise Invalid(f"{field}: must be a date as text, YYYY-MM-DD", field)
            return
        head, tail = rest[0], rest[1:]
        if head == "[]":
            if isinstance(value, list):
                for n, item in enumerate(value):
                    visit(item, (*path, head), tail, [*indexes, n])
        elif isinstance(value, dict) and head in value:
            visit(value[head], (*path, head), tail, indexes)

    for date_path in date_paths():
        visit(body, (), date_path, [])
