"""The Makefile and README.md's table of make targets name the same targets."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def makefile_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:((?:.*\\\n)*.*)$", text, re.M)
    assert phony is not None
    declared = set(phony.group(1).replace("\\\n", " ").split())
    defined = set(re.findall(r"^([a-z][a-z0-9-]*):", text, re.M))
    assert declared == defined, "every rule is .PHONY and every .PHONY name has a rule"
    return defined


def readme_targets() -> set[str]:
    text = (REPO / "README.md").read_text()
    table = text.split("| make target |", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"`make ([a-z][a-z0-9-]*)`", table))


def test_every_make_target_is_in_the_readme_and_no_other() -> None:
    assert makefile_targets() == readme_targets()
