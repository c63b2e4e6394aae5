"""Policy objects back to policy files (YAML), in the model's field order."""

from __future__ import annotations

from pathlib import Path

import yaml

from priorauth.policy.model import Policy


def policy_yaml(policy: Policy, comment: str = "") -> str:
    data = policy.model_dump(mode="json", exclude_defaults=True)
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    head = "".join(f"# {line}\n" for line in comment.splitlines())
    return head + body


def write_atomically(path: Path, text: str) -> None:
    """The whole file or none of it: a failed write never leaves half a policy behind."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
