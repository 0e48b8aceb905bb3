"""The docstring examples of schemas/, services/ and truyvet/ run with ``--doctest-modules``
(pyproject.toml); these tests keep that run honest.

A module whose examples are deleted gives pytest nothing to collect and nothing to fail, so the
modules that document themselves by example are listed here and must keep at least one each.
Collection imports every module, so importing one must do nothing: no files, no threads.
"""

from __future__ import annotations

import doctest
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "services", "truyvet")

WITH_EXAMPLES = (
    "schemas.derived",
    "services.alerts.api.stream",
    "services.alerts.domain.alert_diff",
    "services.alerts.domain.chain",
    "services.alerts.domain.contact_list",
    "services.alerts.domain.follow_up",
    "services.alerts.domain.clusters",
    "services.alerts.domain.exposure",
    "services.alerts.domain.model",
    "services.alerts.domain.risk",
    "services.alerts.domain.venue_events",
    "services.alerts.domain.window",
    "services.alerts.queries.helpers",
    "services.core.directory",
    "services.core.http.forwarded",
    "services.core.http.ratelimit",
    "services.core.pseudonym",
    "services.core.secrets",
    "services.core.tokens",
    "services.ingest.admission",
    "services.ingest.case_log",
    "services.ingest.directory",
    "services.ingest.identifiers",
    "services.tracer.domain.contact_changes",
    "services.tracer.domain.delta",
    "services.tracer.domain.model",
    "services.tracer.domain.overlap",
    "services.tracer.domain.state",
    "services.tracer.domain.visits",
    "services.alerts.domain.graph",
    "services.tracer.processor",
    "truyvet.directory_commands",
    "truyvet.simulate.city",
    "truyvet.simulate.identities",
    "truyvet.stack.kafka",
    "truyvet.stack.migrations",
    "truyvet.stack.topics",
    "truyvet.trace_command",
)


def module_names() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_module_keeps_its_examples(name: str) -> None:
    tests = doctest.DocTestFinder().find(importlib.import_module(name))
    assert sum(len(t.examples) for t in tests) > 0, f"{name} lost its docstring examples"


def test_every_module_imports_without_side_effects(tmp_path: Path) -> None:
    # In a fresh interpreter, in an empty directory: whatever an import creates or starts shows.
    probe = (
        "import importlib, json, sys, threading\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps([t.name for t in threading.enumerate()]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUYVET_")}
    env.update(PYTHONPATH=str(REPO), HOME=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", probe, json.dumps(module_names())],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == ["MainThread"]
    assert sorted(p.name for p in tmp_path.iterdir()) == []
