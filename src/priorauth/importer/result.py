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
class ImportResult:
    source: str
    policy: Policy
    criteria: list[Placement]
    unplaced: list[Unplaced]
    warnings: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def typed_share(self) -> tuple[int, int]:
        typed = sum(1 for c in self.criteria if c.mapping == "typed")
        return typed, len(self.criteria)
