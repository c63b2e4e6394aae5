"""What the reader tells its user about the logic it read: the report's first lines, the
ambiguous groups in the report and the lint, and a criteria section it could not read."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from priorauth.cli import app
from priorauth.importer import import_document, import_text
from priorauth.importer.report import render_markdown
from priorauth.importer.review import lint

CORPUS = Path(__file__).parent / "corpus"
runner = CliRunner()

UNREAD = """Otezla (apremilast) Prior Authorization Criteria
Policy Number: RX-2299
Effective Date: 05/01/2026

Initial Authorization
Note: the criteria are kept by the plan's clinical team.
Approval duration: 12 months
"""


def test_the_report_starts_with_what_happened_and_names_the_ambiguous_group() -> None:
    report = render_markdown(import_document(CORPUS / "s-mixed-no-header.txt"))
    head = report.split("## Criteria")[0]
    assert "- Sections found: initial criteria, durations" in head
    # the renewal is held to the initial criteria: the group is named in both
    assert "- Criteria read: 3 (3 typed, 0 questions), 2 ambiguous groups" in head
    assert "- Unplaced lines of the criteria and limits sections: 0" in head
    groups = report.split("## Ambiguous groups")[1].split("## Limits")[0]
    assert "`initial.ambiguous`" in groups
    for line in (6, 7, 8):
        assert f"page 1, line {line}:" in groups


def test_what_is_not_a_criterion_is_never_one() -> None:
    r = import_document(CORPUS / "s-flat-one-of.txt")
    texts = [c.text for c in r.criteria]
    assert not [t for t in texts if t.strip("• ").upper() in ("AND", "OR")]  # "• AND"
    assert not [t for t in texts if t.startswith(("Approval duration", "Dosing", "Note"))]
    assert r.policy.limits.initial.duration.months == 12  # the duration inside the criteria
    assert [(u.line, u.section) for u in r.unplaced] == [
        (12, "initial: dosing or administration, not a criterion"),
        (13, "initial: a note, not a criterion"),
    ]


def test_lint_names_every_ambiguous_group_with_its_lines() -> None:
    policy = import_document(CORPUS / "s-mixed-no-header.txt").policy
    found = [f for f in lint(policy) if "ambiguous group" in f.message]
    assert [f.where for f in found] == ["initial.ambiguous", "renewal.ambiguous"]
    assert "page 1, line 7: Prescribed by or in consultation with a dermatologist" in str(found[0])


@pytest.mark.parametrize(
    ("document", "groups"),
    [
        ("s-flat-one-of.txt", 0),
        ("s-age-branches.txt", 0),
        ("s-continuation.txt", 0),
        ("s-fep-or-items.txt", 0),
        ("s-mixed-no-header.txt", 2),  # its renewal is held to the initial criteria
        ("b-ibrance.txt", 1),  # numbered items with no header and no connector
    ],
)
def test_groups_are_ambiguous_only_where_the_document_does_not_say(
    document: str, groups: int
) -> None:
    assert len(import_document(CORPUS / document).ambiguous) == groups


def test_a_criteria_section_found_but_not_read_is_said_and_exits_2(tmp_path: Path) -> None:
    r = import_text(UNREAD, "unread.txt")
    assert r.unread and "no criterion could be read" in r.unread
    assert render_markdown(r).split("\n")[4].startswith("- NOT READ:")
    doc = tmp_path / "unread.txt"
    doc.write_text(UNREAD)
    out = tmp_path / "unread.yaml"
    refused = runner.invoke(app, ["policy", "import", str(doc), "-o", str(out)])
    assert refused.exit_code == 2
    assert "no criterion could be read" in refused.stderr and "--allow-unread" in refused.stderr
    assert not out.exists()
    allowed = runner.invoke(app, ["policy", "import", str(doc), "-o", str(out), "--allow-unread"])
    assert allowed.exit_code == 0 and out.exists()


# A page whose text came apart into fragments: no heading or lead line says where its criteria
# are (our own wording, split the way a broken PDF extraction splits it).
FRAGMENTS = """Otezla (apremilast)
1)
The following
products require prior
authorization.
2) Apremilast is
considered medically
necessary for members
with plaque psoriasis who
failed methotrexate.
"""


def test_a_document_without_a_criteria_section_exits_2_saying_so(tmp_path: Path) -> None:
    doc = tmp_path / "fragments.txt"
    doc.write_text(FRAGMENTS)
    out = tmp_path / "fragments.yaml"
    refused = runner.invoke(app, ["policy", "import", str(doc), "-o", str(out)])
    assert refused.exit_code == 2
    assert "no initial criteria section was recognised" in refused.stderr
    assert not out.exists()
    allowed = runner.invoke(app, ["policy", "import", str(doc), "-o", str(out), "--allow-unread"])
    assert allowed.exit_code == 0 and out.exists()
