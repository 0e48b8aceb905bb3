"""The npm spec checkers of tools/specs (installed by ``make spec-tools``), for the tests."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_TOOLS = REPO_ROOT / "tools" / "specs"
REDOCLY = SPEC_TOOLS / "node_modules" / ".bin" / "redocly"


def _node() -> str:
    node = shutil.which("node")
    assert node is not None, "node is missing: run `make setup` (it installs nodejs and npm)"
    assert (SPEC_TOOLS / "node_modules" / ".installed").exists(), \
        "the spec checkers are missing: run `make spec-tools`"
    return node


def parse_asyncapi(*paths: Path) -> list[dict[str, Any]]:
    """The official AsyncAPI parser's report on each of ``paths``, in one run of node
    (``tools/specs/check-asyncapi.mjs``)."""
    done = subprocess.run([_node(), str(SPEC_TOOLS / "check-asyncapi.mjs"), *map(str, paths)],
                          capture_output=True, text=True, timeout=120, check=False)
    reports = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(reports) == len(paths), done.stdout + done.stderr
    return reports


def redocly_lint(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    """``redocly lint`` of OpenAPI documents with the recommended rules, offline."""
    _node()
    return subprocess.run(
        [str(REDOCLY), "lint", "--format=stylish", *map(str, paths)],
        capture_output=True, text=True, timeout=180, check=False, cwd=SPEC_TOOLS,
        env={"PATH": str(Path(_node()).parent), "REDOCLY_TELEMETRY": "off",
             "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true", "HOME": str(SPEC_TOOLS)},
    )
