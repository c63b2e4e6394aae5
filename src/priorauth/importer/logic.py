"""The logic stage: how the items of every group of an outline combine, taken only from what the
document shows.

A group's ALL/ONE comes from its header ("One of the following", "must meet all", "must meet 1
or 2", "either"), from its connectors (trailing "; OR", or "AND" on a line of its own), or from
the layout's stated convention (a clinical policy's per-indication blocks are alternatives).
Where the document shows none of these (no header, no connectors, or AND and OR mixed with
nothing to say how), the group is ``ambiguous``: the engine decides it only where both readings
agree, and the report names it with its lines.

Two shapes are read as the document means them whatever their connectors: conditional branches
("If the member is under 18: ... / If 18 or older: ...") become alternatives each guarded by its
condition, and a continuation-of-therapy item ("Patient is currently receiving ...") is an
alternative to the new-start criteria beside it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from priorauth.importer.outline import Node

_IF = re.compile(r"^if\s+(?P<rest>.+)$", re.I)
_THEN = re.compile(r"\s*(?::|,\s*then\b|\bthen\b|,)\s*")
_CONTINUING = re.compile(
    r"\b(?:currently (?:receiving|on|taking|being treated with)|continuation of (?:therapy|"
    r"treatment)|continuing (?:therapy|treatment)|already (?:receiving|on|established on))\b",
    re.I,
)
_HEADER_ONLY = re.compile(
    r"^(?:(?:the )?(?:patient|member) (?:meets|has|must meet) )?(?:(?:all|one|any|both|either|"
    r"each) of the following.*|)$",
    re.I,
)


Convention = Callable[[Node, bool], str | None]


def settle(root: Node, warnings: list[str], convention: Convention | None = None) -> list[Node]:
    """Decide ``how`` for every group under ``root`` (restructuring conditional branches and
    continuation items). ``convention(node, at_root)``: the layout's stated reading ("all" or
    "any") of a group whose items show nothing, or None. The ambiguous groups, in document
    order."""
    found: list[Node] = []
    _settle(root, warnings, found, convention, True)
    return found


def _settle(
    node: Node,
    warnings: list[str],
    found: list[Node],
    convention: Convention | None,
    at_root: bool,
) -> None:
    if not node.children:
        return
    _branches(node)
    node.how = node.how or _shape(node, warnings, convention, at_root)
    if node.how == "ambiguous":
        found.append(node)
    for child in node.children:
        _settle(child, warnings, found, convention, False)


def _shape(node: Node, warnings: list[str], convention: Convention | None, at_root: bool) -> str:
    said = {j for j in node.joins if j}
    if node.header is not None:
        if said and said != {"and" if node.header == "all" else "or"} and node.line:
            warnings.append(
                f"{node.line.where}: the header says {node.header.upper()} of the following but"
                f" the items are joined by {'/'.join(sorted(w.upper() for w in said))}; "
                "the header is followed"
            )
        return node.header
    if len(node.children) == 1:
        return "all"
    if said == {"or"} or _continuation(node):
        return "any"
    if said == {"and"}:
        return "all"
    stated = convention(node, at_root) if convention is not None and not said else None
    return stated or "ambiguous"


def _continuation(node: Node) -> bool:
    """A continuation item first or last, not joined to the rest by AND: the rest become the
    new-start criteria, its alternative."""
    kids = node.children
    if len(kids) < 2:
        return False
    for at, join in ((0, node.joins[0]), (len(kids) - 1, node.joins[-1])):
        item = kids[at]
        if join == "and" or item.children or not _CONTINUING.search(item.text):
            continue
        others = kids[1:] if at == 0 else kids[:-1]
        joins = node.joins[1:] if at == 0 else node.joins[:-1]
        if len(others) == 1:
            rest = others[0]
        else:
            rest = Node("", None, label=True, children=others, joins=joins)
        node.children = [item, rest] if at == 0 else [rest, item]
        node.joins = ["or"]
        return True
    return False


def _branches(node: Node) -> None:
    """Runs of two or more "If ..." items become one group of alternatives, each ALL of its
    condition and what it requires. (A lone "If ..." item is a condition on one requirement,
    which the vocabulary cannot say: it stays one criterion, asked as written.)"""
    kids, joins = node.children, node.joins
    out: list[Node] = []
    out_joins: list[str] = []
    i = 0
    while i < len(kids):
        j = i
        while j < len(kids) and kids[j].how is None and _IF.match(kids[j].text):
            j += 1
        if j - i >= 2:
            run = kids[i:j]
            group = Node(
                "One of the following, by condition",
                run[0].line,
                label=True,
                children=[_branch(b) for b in run],
                joins=["or"] * (len(run) - 1),
                how="any",
            )
            if out:
                out_joins.append(joins[i - 1])
            out.append(group)
            i = j
            continue
        if out:
            out_joins.append(joins[i - 1])
        out.append(kids[i])
        i += 1
    node.children, node.joins = out, out_joins


def _branch(item: Node) -> Node:
    m = _IF.match(item.text)
    assert m is not None
    parts = _THEN.split(m.group("rest"), maxsplit=1)
    guard = parts[0].strip()
    rest = parts[1].strip() if len(parts) > 1 else ""
    kids = [Node(guard[:1].upper() + guard[1:], item.line, item.style, item.indent)]
    if rest and not _HEADER_ONLY.match(rest):
        kids.append(Node(rest[:1].upper() + rest[1:], item.line, item.style, item.indent))
    if item.children:
        kids.append(
            Node("", None, label=True, header=item.header, children=item.children, joins=item.joins)
        )
    joins = ["and"] * (len(kids) - 1)
    return Node(item.text, item.line, label=True, children=kids, joins=joins, how="all")
