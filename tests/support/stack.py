"""Per-module isolation on the shared test stack: own topics, own database, own secrets."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

from pydantic import SecretStr

from schemas.registry import Role
from services.core.config import Settings
from services.core.registry_log import publish_records_blocking
from services.core.tokens import issue_token
from tests.support.processes import free_port
from truyvet.stack.lifecycle import prepare_stores


def isolated_settings(stack: Settings, state_dir: Path, **overrides: object) -> Settings:
    """Settings on the test stack with a fresh topic prefix, database, ports and secrets,
    with the topics created and the migrations applied."""
    tag = uuid.uuid4().hex[:10]
    settings = stack.model_copy(
        update={
            "topic_prefix": f"t{tag}-",
            "clickhouse_database": f"t_{tag}",
            "ingest_port": free_port(),
            "alerts_port": free_port(),
            "state_dir": state_dir,
            "pseudonym_secret": SecretStr(secrets.token_urlsafe(32)),
            "qr_secret": SecretStr(secrets.token_urlsafe(32)),
            **overrides,
        }
    )
    prepare_stores(settings)
    return settings


def grant(settings: Settings, role: Role) -> str:
    """A fresh token for ``role``, written to the registry."""
    token, record = issue_token(role, f"test {role.value}")
    publish_records_blocking(settings, [record])
    return token
