"""A clone with no shared folder beside it (a newcomer's, a fork's CI): the tests that read
../shared skip, naming what is missing, instead of breaking collection or failing.

The tests that read the founding document are copied into a folder of their own and run there
by pytest in a subprocess: what a lone clone sees, in a few seconds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
# Files that read ../shared/seed (and, for some tests, ../shared/policies), with the modules and
# data they import or read from tests/.
SEED_READERS = [
    "test_import_golden.py",  # at module level: the whole module skips
    "test_import_pdf.py",
    "test_import_noise.py",
    "test_policy_load.py",
    "test_import_documents.py",
]
SUPPORT = ["conftest.py", "shared_folder.py", "test_properties.py", "import_expectations"]


def test_seed_readers_skip_in_a_clone_without_the_shared_folder(tmp_path: Path) -> None:
    clone = tmp_path / "lonely" / "priorauth"
    for folder in ("src", "examples"):  # the policy files and requests the tests also read
        shutil.copytree(ROOT / folder, clone / folder, ignore=shutil.ignore_patterns("__pycache__"))
    lonely = clone / "tests"
    for name in SEED_READERS + SUPPORT:
        src = TESTS / name
        if src.is_dir():
            shutil.copytree(src, lonely / name)
        else:
            lonely.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, lonely / name)
    assert not (tmp_path / "lonely" / "shared").exists()

    report = tmp_path / "report.xml"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-o",
            "addopts=",
            f"--junitxml={report}",
            *SEED_READERS,
        ],
        cwd=lonely,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stdout[-3000:]
    outcomes: dict[str, list[str]] = {}  # file -> "passed" or the skip reason, per test
    for case in ElementTree.parse(report).iter("testcase"):
        assert case.find("failure") is None and case.find("error") is None, case.attrib
        skipped = case.find("skipped")
        # A module skipped as a whole is one case named after the module, its reason the text.
        file = (case.attrib["classname"] or case.attrib["name"]).split(".")[0] + ".py"
        reason = "passed"
        if skipped is not None:
            reason = f"{skipped.attrib.get('message', '')} {skipped.text or ''}"
        outcomes.setdefault(file, []).append(reason)
    for name in SEED_READERS:
        skips = [r for r in outcomes.get(name, []) if r != "passed"]
        assert any("../shared/seed/" in r for r in skips), (name, outcomes.get(name))
        for reason in skips:
            assert "needs ../shared/" in reason and "beside this clone" in reason, reason
    # What does not read ../shared still runs there.
    assert outcomes["test_policy_load.py"].count("passed") > 10, outcomes["test_policy_load.py"]
