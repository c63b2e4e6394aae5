"""What an import gives: the policy, where every criterion came from and what it became, the
lines placed nowhere, the warnings and notes for the reviewer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from priorauth.policy.dump import policy_yaml
from priorauth.policy.model import Policy

# What an import says, first, when the document states no effective date.
NOT_STATED = "effective date: not stated in the document; set it with --effective-date"
# The date an undated import's policy carries in memory, because a Policy needs one to validate.
# Nothing writes or serves it: the policy file gets `effective_date: null`, which does not load,
# and the report says "not stated". Before any real policy, so that the policy is in force for
# every request a measurement evaluates against it, and never mistaken for a real date.
PLACEHOLDER_DATE = dt.date(1900, 1, 1)
DATE_FIELDS = ("effective_date", "original_policy_date", "last_review_date")


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
    # Neither the document nor the person importing it gave an effective date: the policy's
    # dates are PLACEHOLDER_DATE and must not be shown, written or served as real ones.
    undated: bool = False

    @property
    def effective_date(self) -> dt.date | None:
        """The policy's effective date, None when the document does not state it."""
        return None if self.undated else self.policy.effective_date

    def policy_yaml(self, comment: str = "") -> str:
        """The policy file; an undated import's dates are null, so that the file refuses to
        load until a person sets them, rather than a made-up date deciding which version is
        in force."""
        if not self.undated:
            return policy_yaml(self.policy, comment)
        text = policy_yaml(self.policy, "\n".join(filter(None, [NOT_STATED, comment])))
        why = (
            "# Not stated in the document: set it (YYYY-MM-DD), or import again with "
            "--effective-date.\n"
            "# original_policy_date and last_review_date left null are the effective date.\n"
        )
        for key in DATE_FIELDS:  # top-level keys: no other line starts with them
            line = f"\n{key}: '{PLACEHOLDER_DATE.isoformat()}'\n"
            text = text.replace(line, f"\n{why if key == 'effective_date' else ''}{key}: null\n")
        return text

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
