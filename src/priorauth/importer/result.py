"""What an import gives: the policy, where every criterion came from and what it became, the
lines placed nowhere, the warnings and notes for the reviewer."""

from __future__ import annotations

from dataclasses import dataclass, field

from priorauth.policy.model import Policy


@dataclass
class Placement:
    """Where one criterion came from and what it became."""

    id: str
    text: str
    page: int
    line: int
    mapping: str  # "typed" or "question"
    condition_type: str
    why: str
    flag: str | None = None  # "administrative": a reviewer's question by design


@dataclass
class Unplaced:
    text: str
    page: int
    line: int
    section: str


@dataclass
class AmbiguousGroup:
    """A group whose document does not say whether all or one of its items must hold."""

    id: str
    where: str | None
    items: list[tuple[str | None, str]]  # (where, wording) of each item


@dataclass
class ImportResult:
    source: str
    policy: Policy
    criteria: list[Placement]
    unplaced: list[Unplaced]
    warnings: list[str]
    notes: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)  # the sections found, by what they hold
    # Why the criteria section found could not be read (no criterion read from it), else None.
    unread: str | None = None

    @property
    def ambiguous(self) -> list[AmbiguousGroup]:
        return [
            AmbiguousGroup(n.id, n.source, [(c.source, c.text) for c in n.children])
            for kind in ("initial", "renewal")
            for n in getattr(self.policy.requirements, kind).walk()
            if n.ambiguous is not None
        ]

    @property
    def typed_share(self) -> tuple[int, int]:
        typed = sum(1 for c in self.criteria if c.mapping == "typed")
        return typed, len(self.criteria)
