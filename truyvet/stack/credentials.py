"""The local deployment's secrets: generated on the first ``truyvet up``, reused afterwards.

The development defaults in Settings are public; a stack that holds even synthetic scans gets real
random keys, kept in ``<state_dir>/secrets.env`` (mode 0600) so that pseudonyms and QR signatures
stay stable across restarts.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TypeVar

from pydantic import SecretStr

from services.core.config import Settings
from truyvet.stack.layout import StateLayout, write_private

AnySettings = TypeVar("AnySettings", bound=Settings)

# The keys of ingest and the passwords of the local Kafka (SCRAM) and ClickHouse users.
SECRET_FIELDS = ("pseudonym_secret", "qr_secret", "read_secret", "kafka_password",
                 "clickhouse_password")


def _env_name(field: str) -> str:
    return f"TRUYVET_{field.upper()}"


def read_secrets(path: Path) -> dict[str, str]:
    """``{field: value}`` from a ``TRUYVET_NAME=value`` file ({} when it does not exist)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        for field in SECRET_FIELDS:
            if sep and key.strip() == _env_name(field):
                found[field] = value.strip()
    return found


def ensure_secrets(settings: Settings) -> dict[str, str]:
    """The state dir's secrets, generated (``secrets.token_urlsafe(48)``) where missing."""
    path = StateLayout.of(settings).secrets_file
    values = read_secrets(path)
    missing = [field for field in SECRET_FIELDS if not values.get(field)]
    if missing:
        values.update({field: secrets.token_urlsafe(48) for field in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "".join(f"{_env_name(field)}={values[field]}\n" for field in SECRET_FIELDS)
        write_private(path, body)
    return values


def with_local_secrets(settings: AnySettings, *, create: bool = False) -> AnySettings:
    """``settings`` with the state dir's secrets, unless set explicitly (TRUYVET_… env vars win).

    With ``create=False`` a state dir without secrets leaves ``settings`` unchanged; the CLI's
    other commands use that to talk to a stack that ``truyvet up`` started.
    """
    path = StateLayout.of(settings).secrets_file
    values = ensure_secrets(settings) if create else read_secrets(path)
    update = {
        field: SecretStr(value)
        for field, value in values.items()
        if field in type(settings).model_fields and field not in settings.model_fields_set and value
    }
    return settings.model_copy(update=update) if update else settings
