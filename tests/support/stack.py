"""Per-module isolation on the shared test stack: own topics, own database, own secrets."""

from __future__ import annotations

import uuid
from pathlib import Path

from schemas.registry import Role
from services.core.config import Settings
from services.core.registry_log import publish_records_blocking
from services.core.tokens import issue_token
from truyvet.stack.lifecycle import isolated_copy

# Every isolated copy made in this session: the session drops their topics and databases at its
# end (tests/conftest.py), so the test stack's data does not grow from one session to the next.
ISOLATED: list[Settings] = []


def isolated_settings(stack: Settings, state_dir: Path, **overrides: object) -> Settings:
    """Settings on the test stack with a fresh topic prefix, database, ports and secrets,
    with the topics created and the migrations applied."""
    tag = uuid.uuid4().hex[:10]
    settings = isolated_copy(
        stack, state_dir, topic_prefix=f"t{tag}-", database=f"t_{tag}", **overrides
    )
    ISOLATED.append(settings)
    return settings


def grant(settings: Settings, role: Role) -> str:
    """A fresh token for ``role``, written to the registry."""
    token, record = issue_token(role, f"test {role.value}")
    publish_records_blocking(settings, [record])
    return token
