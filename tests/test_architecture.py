"""The package's layout holds: no module imports another that imports it back (directly or in a
circle), and imports go one way, as docs/architecture.md draws them.

Every import counts, those inside functions and under TYPE_CHECKING too: a circle hidden in a
function is still a circle for the reader (and for the first caller of that function)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "priorauth"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if "migrations" in parts and "versions" in parts:
            continue  # Alembic scripts: loaded by Alembic, never imported
        found[".".join(parts)] = path
    return found


def _imported(module: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The project's modules `module` imports, each named by its longest known prefix."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def known_prefix(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if found := known_prefix(alias.name):
                    yield found
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                if f"{source}.{alias.name}" in known:
                    yield f"{source}.{alias.name}"
                elif found := known_prefix(source):
                    yield found


def import_graph() -> dict[str, set[str]]:
    known = _modules()
    return {
        m: {t for t in _imported(m, p, known) if t != m and t.startswith(PACKAGE)}
        for m, p in known.items()
    }


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return out


def test_no_module_imports_in_a_circle() -> None:
    found = circles(import_graph())
    assert found == [], "modules that import each other, directly or in a circle: " + "; ".join(
        " <-> ".join(c) for c in found
    )


def test_the_circle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


ADAPTERS = {"api", "fhir", "web"}
# Which layers each layer must never import; docs/architecture.md draws the same.
FORBIDDEN = {
    # The engine decides requests against policies: nothing of how it is reached or stored.
    "engine": {"service", "api", "fhir", "web", "server", "schema", "claims", "importer", "cli"},
    # A denial explained the same way by the service and the command line: neither of them.
    "explain": {"service", "api", "fhir", "web", "server", "schema", "claims", "importer", "cli"},
    "policy": {"engine", "service", "api", "fhir", "web", "server", "schema", "importer", "cli"},
    # The case service knows none of the ways it is reached.
    "service": {"api", "fhir", "web", "server", "cli", "claims", "importer"},
    # Each adapter knows the service, and none of the other adapters.
    "api": {"fhir", "web", "server", "cli"},
    "fhir": {"api", "web", "server", "cli"},
    "web": {"api", "fhir", "server", "cli"},
    "importer": {"service", "api", "fhir", "web", "server", "cli"},
    "claims": {"api", "fhir", "web", "server"},
}
# Alembic's environment compares migrations with every table, adapters' included.
EXEMPT = {"priorauth.service.migrations.env"}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_go_one_way(layer: str) -> None:
    wrong = sorted(
        f"{m} imports {t}"
        for m, targets in import_graph().items()
        if _layer(m) == layer and m not in EXEMPT
        for t in targets
        if _layer(t) in FORBIDDEN[layer]
    )
    assert wrong == []


def test_only_the_composition_root_puts_the_adapters_together() -> None:
    graph = import_graph()
    mounting = sorted(
        m
        for m, targets in graph.items()
        if len({_layer(t) for t in targets} & ADAPTERS - {_layer(m)}) >= 2
    )
    assert mounting == ["priorauth.server"]
