"""A policy's requirements compiled once into closures, and the trace rebuilt on demand."""

from __future__ import annotations

from collections.abc import Callable

from priorauth.determination import TraceNode
from priorauth.engine.conditions import Evaluator, compile_condition
from priorauth.engine.facts import Fact, Facts
from priorauth.engine.logic import STATUS_NAMES, Status, k_and, k_or
from priorauth.policy.model import Criterion
from priorauth.policy.tables import Knowledge

Statuses = dict[str, Status]
Step = Callable[[Facts, Statuses], Status]


class Plan:
    """The initial or renewal requirements of one policy version, ready to evaluate."""

    def __init__(self, root: Criterion, kb: Knowledge, own_drug: str) -> None:
        self.root = root
        self.nodes: dict[str, Criterion] = {n.id: n for n in root.walk()}
        self.leaf_ids = frozenset(i for i, n in self.nodes.items() if n.condition is not None)
        self.evaluators: dict[str, Evaluator] = {
            n.id: compile_condition(n.condition, kb, own_drug)
            for n in self.nodes.values()
            if n.condition is not None
        }
        self._run = self._compile(root)

    def _compile(self, node: Criterion) -> Step:
        nid = node.id
        if node.condition is not None:
            ev = self.evaluators[nid]

            def leaf(f: Facts, out: Statuses) -> Status:
                ans = f.answers
                v = ans[nid] if nid in ans else ev(f, None)
                out[nid] = v
                return v

            return leaf
        kids = tuple(self._compile(c) for c in node.children)
        combine = k_and if node.all is not None else k_or

        def group(f: Facts, out: Statuses) -> Status:
            # Every child is evaluated (no short cut) so that reasons and the trace see them all.
            v = combine([k(f, out) for k in kids])
            out[nid] = v
            return v

        return group

    def evaluate(self, facts: Facts) -> Statuses:
        out: Statuses = {}
        self._run(facts, out)
        return out

    def trace(self, facts: Facts, statuses: Statuses) -> TraceNode:
        return self._trace(self.root, facts, statuses)

    def _trace(self, node: Criterion, facts: Facts, statuses: Statuses) -> TraceNode:
        notes: list[Fact] = []
        answered = node.condition is not None and node.id in facts.answers
        if answered:
            notes.append(Fact("answer", facts.answers[node.id], f"answers.{node.id}"))
        elif node.condition is not None:
            self.evaluators[node.id](facts, notes)
        kind: str
        if node.condition is not None:
            kind = node.condition.type
        else:
            kind = "all" if node.all is not None else "any"
        return TraceNode.model_construct(
            id=node.id,
            text=node.text,
            kind=kind,
            status=STATUS_NAMES[statuses.get(node.id)],
            answered=answered,
            facts=[n.as_dict() for n in notes],
            children=[self._trace(c, facts, statuses) for c in node.children],
        )
