"""A policy's requirements compiled once into straight-line Python, and explained on demand.

Compilation turns the criteria tree into one generated function that computes every node's
status in a single pass (no recursion, no per-node allocation); it runs as fast as a rule
written by hand. The trace is rebuilt from the same evaluators only when someone asks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from priorauth.determination import TraceNode
from priorauth.engine.conditions import Evaluator, compile_condition
from priorauth.engine.facts import Fact, Facts
from priorauth.engine.logic import STATUS_NAMES, Status, k_and
from priorauth.policy.model import (
    AttestationCondition,
    Condition,
    Criterion,
    DiagnosisCondition,
)
from priorauth.policy.tables import Knowledge

Statuses = tuple[Status, ...]


def group_expression(node: Criterion, index: dict[str, int], answered: bool = False) -> str:
    """A group's Kleene status from its children's variables (s<i>), as generated code: ALL is
    False as soon as one child is, True when every one is, else unknown; ONE the other way; an
    AMBIGUOUS group True when every child is, False when none is, else unknown (or what the
    reviewer answered for it, when ``answered``)."""
    kids = [f"s{index[c.id]}" for c in node.children]
    if node.ambiguous is not None:
        every = " and ".join(f"{k} is True" for k in kids)
        none = " and ".join(f"{k} is False" for k in kids)
        expr = f"True if ({every}) else (False if ({none}) else None)"
        return f"(a[{node.id!r}] if {node.id!r} in a else {expr})" if answered else expr
    decisive, other = ("False", "True") if node.all is not None else ("True", "False")
    hit = " or ".join(f"{k} is {decisive}" for k in kids)
    full = " and ".join(f"{k} is {other}" for k in kids)
    return f"{decisive} if ({hit}) else ({other} if ({full}) else None)"


class Plan:
    """The initial or renewal requirements of one policy version, ready to evaluate."""

    def __init__(self, root: Criterion, kb: Knowledge, own_drug: str) -> None:
        self.root = root
        self.order: list[Criterion] = root.walk()
        self.index: dict[str, int] = {n.id: i for i, n in enumerate(self.order)}
        self.nodes: dict[str, Criterion] = {n.id: n for n in self.order}
        self.leaf_ids = frozenset(n.id for n in self.order if n.condition is not None)
        # An ambiguous group is answered as a whole: the reviewer's reading of the document.
        self.answerable = self.leaf_ids | {n.id for n in self.order if n.ambiguous is not None}
        self.attestation_keys = frozenset(
            n.condition.key for n in self.order if isinstance(n.condition, AttestationCondition)
        )
        # Every leaf's condition by id, and the diagnosis checks added below for denials.
        self.conditions: dict[str, Condition] = {
            n.id: n.condition for n in self.order if n.condition is not None
        }
        self.evaluators: dict[str, Evaluator] = {
            key: compile_condition(cond, kb, own_drug) for key, cond in self.conditions.items()
        }
        # For each listed indication, the leaves that say whether the diagnosis matches; and the
        # diagnoses required whatever the indication (Tagrisso's "NSCLC AND ONE of" settings).
        self.indication_dx: list[list[str]] = []
        inside: set[str] = set()
        for n in self.order:
            if n.indication:
                below = n.walk()
                inside.update(m.id for m in below)
                dx = [m for m in below if isinstance(m.condition, DiagnosisCondition)]
                ids = [
                    self._disease_only(m, kb, own_drug)
                    for m in dx or [n]
                    if m.condition is not None
                ]
                if not dx and n.indication_disease:
                    # The disease the indication is for, checked only for the denial's basis.
                    key = f"{n.id}#disease"
                    cond = DiagnosisCondition(type="diagnosis", disease=n.indication_disease)
                    self.conditions[key] = cond
                    self.evaluators[key] = compile_condition(cond, kb, own_drug)
                    ids = [key]
                self.indication_dx.append(ids)
        self.gate_dx = [
            self._disease_only(n, kb, own_drug)
            for n in self.order
            if isinstance(n.condition, DiagnosisCondition) and n.id not in inside
        ]
        self._plain = self._generate(answered=False)
        self._answered = self._generate(answered=True)
        self._quick_plain = self._generate_quick(answered=False)
        self._quick_answered = self._generate_quick(answered=True)

    def _disease_only(self, node: Criterion, kb: Knowledge, own_drug: str) -> str:
        """The leaf that says, for the denial's basis, whether the diagnosis is the listed one:
        the node's own, or, when it asks a severity, the same diagnosis at any severity (a listed
        disease too mild is that indication with a criterion not met, not an unlisted use)."""
        cond = node.condition
        if not isinstance(cond, DiagnosisCondition) or not cond.severities:
            return node.id
        key = f"{node.id}#any-severity"
        plain = cond.model_copy(update={"severities": None})
        self.conditions[key] = plain
        self.evaluators[key] = compile_condition(plain, kb, own_drug)
        return key

    def _leaf_call(self, node: Criterion, answered: bool, env: dict[str, object]) -> str:
        i = self.index[node.id]
        env[f"e{i}"] = self.evaluators[node.id]
        call = f"e{i}(f, None)"
        if answered:
            call = f"(a[{node.id!r}] if {node.id!r} in a else {call})"
        return call

    def _generate_quick(self, answered: bool) -> Callable[[Facts], Status]:
        """The overall status only, stopping at the first child that settles each group (the
        decision needs no more; explanations use the full pass)."""
        env: dict[str, object] = {}
        source: list[str] = []

        def emit(node: Criterion) -> str:
            if node.condition is not None:
                return self._leaf_call(node, answered, env)
            i = self.index[node.id]
            calls = [emit(c) for c in node.children]
            body = [f"def g{i}(f):"]
            if answered:
                body.append("    a = f.answers")
            if node.ambiguous is not None:
                if answered:
                    body.append(f"    if {node.id!r} in a: return a[{node.id!r}]")
                body.append("    every = none = True")
                for call in calls:
                    body += [
                        f"    s = {call}",
                        "    if s is not True: every = False",
                        "    if s is not False: none = False",
                        "    if not (every or none): return None",
                    ]
                body.append("    return True if every else (False if none else None)")
                source.append("\n".join(body))
                return f"g{i}(f)"
            settle, other = ("False", "True") if node.all is not None else ("True", "False")
            body.append("    u = False")
            for call in calls:
                body += [
                    f"    s = {call}",
                    f"    if s is {settle}: return {settle}",
                    "    if s is None: u = True",
                ]
            body.append(f"    return None if u else {other}")
            source.append("\n".join(body))
            return f"g{i}(f)"

        top = emit(self.root)
        if self.root.condition is not None:
            source.append(
                "def g(f):" + ("\n    a = f.answers" if answered else "") + f"\n    return {top}"
            )
        else:
            source.append(f"g = g{self.index[self.root.id]}")
        exec(compile("\n\n".join(source) + "\n", f"<quick plan {self.root.id}>", "exec"), env)
        run: Callable[[Facts], Status] = env["g"]  # type: ignore[assignment]
        return run

    def diagnosis_matches_none(self, facts: Facts) -> bool:
        """True when the diagnosis is not the disease the policy requires for all indications,
        or is none of its listed indications."""
        answers = facts.answers

        def status(i: str) -> Status:
            return answers[i] if i in answers else self.evaluators[i](facts, None)

        if any(status(i) is False for i in self.gate_dx):
            return True
        if not self.indication_dx:
            return False
        for leaf_ids in self.indication_dx:
            if not leaf_ids:
                return False
            if k_and(status(i) for i in leaf_ids) is not False:
                return False
        return True

    def decide(self, facts: Facts) -> Status:
        """The overall status, as fast as it can be had."""
        return self._quick_answered(facts) if facts.answers else self._quick_plain(facts)

    def _generate(self, answered: bool) -> Callable[[Facts], Statuses]:
        lines: list[str] = []
        env: dict[str, object] = {}

        def emit(node: Criterion) -> None:
            i = self.index[node.id]
            if node.condition is not None:
                lines.append(f"    s{i} = {self._leaf_call(node, answered, env)}")
                return
            for child in node.children:
                emit(child)
            lines.append(f"    s{i} = {group_expression(node, self.index, answered)}")

        emit(self.root)
        head = "def run(f):\n" + ("    a = f.answers\n" if answered else "")
        ret = "    return (" + "".join(f"s{i}, " for i in range(len(self.order))) + ")\n"
        exec(compile(head + "\n".join(lines) + "\n" + ret, f"<plan {self.root.id}>", "exec"), env)
        run: Callable[[Facts], Statuses] = env["run"]  # type: ignore[assignment]
        return run

    def evaluate(self, facts: Facts) -> Statuses:
        """Every node's status, in document order (``self.order``)."""
        return self._answered(facts) if facts.answers else self._plain(facts)

    def by_id(self, statuses: Statuses) -> dict[str, Status]:
        return {n.id: s for n, s in zip(self.order, statuses, strict=True)}

    def trace(self, facts: Facts, statuses: Statuses) -> TraceNode:
        node: TraceNode = self._trace(self.root, facts, self.by_id(statuses), TraceNode)
        return node

    def trace_dump(self, facts: Facts, statuses: Statuses) -> dict[str, Any]:
        """The trace as the JSON contract's dicts directly (what a batch writes)."""
        node: dict[str, Any] = self._trace(self.root, facts, self.by_id(statuses), _node_dict)
        return node

    def _trace(self, node: Criterion, facts: Facts, st: dict[str, Status], make: Any) -> Any:
        children = [self._trace(c, facts, st, make) for c in node.children]
        cond = node.condition
        if cond is None:
            answered = node.id in facts.answers
            said = facts.answers.get(node.id)
            given = [{"fact": "answer", "value": said, "source": f"answers.{node.id}"}]
            status = STATUS_NAMES[st[node.id]]
            shown = given if answered else []
            return make(node.id, node.text, node.shape, status, answered, shown, children)
        notes: list[Fact] = []
        answered = node.id in facts.answers
        if answered:
            notes.append(Fact("answer", facts.answers[node.id], f"answers.{node.id}"))
        else:
            self.evaluators[node.id](facts, notes)
        return make(
            node.id,
            node.text,
            cond.type,
            STATUS_NAMES[st[node.id]],
            answered,
            [{"fact": n.name, "value": n.value, "source": n.source} for n in notes],
            children,
        )


def _node_dict(
    id: str,
    text: str,
    kind: str,
    status: str,
    answered: bool,
    facts: list[dict[str, Any]],
    children: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "id": id,
        "text": text,
        "kind": kind,
        "status": status,
        "answered": answered,
        "facts": facts,
        "children": children,
    }
