"""Where the local stack keeps its files.

Everything a running stack writes lives under ``Settings.state_dir`` so that two stacks (the
development one in ``.truyvet/`` and the test one in ``.truyvet-test/``) never share a file, and
``rm -rf`` of that folder after ``truyvet down`` is a full reset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from services.core.config import Settings

# The stack is developer tooling run from a checkout (``pip install -e .``): the deploy/ folder next
# to the package is where the Maven project, the log4j2 and ClickHouse templates and the
# migrations are.
REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy"


@dataclass(frozen=True)
class StateLayout:
    """Paths of one stack's state dir (always absolute, so child processes may run anywhere)."""

    root: Path

    @classmethod
    def of(cls, settings: Settings) -> StateLayout:
        return cls(settings.state_dir.expanduser().resolve())

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def kafka_dir(self) -> Path:
        return self.root / "kafka"

    @property
    def clickhouse_dir(self) -> Path:
        return self.root / "clickhouse"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.env"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def heartbeat_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.heartbeat"


def deploy_file(*parts: str) -> Path:
    """A file under deploy/, with a clear error when the checkout does not have it."""
    path = DEPLOY_DIR.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: the local stack runs from a source checkout of truyvet "
            "(pip install -e .), where deploy/ sits next to the truyvet package"
        )
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only (it holds a password or key):
    created with mode 0600 from the start, never readable by others even for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    path.chmod(0o600)  # an existing file keeps its mode through O_CREAT
