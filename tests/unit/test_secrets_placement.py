"""Only ingest holds the pseudonym and QR keys (issue 14, finding 4)."""

from __future__ import annotations

import secrets

import pytest
from pydantic import SecretStr

from services.core.config import INGEST_SECRETS, IngestSettings, Settings
from truyvet.stack import services

KEY_VARIABLES = {f"TRUYVET_{name.upper()}" for name in INGEST_SECRETS}


def stack() -> IngestSettings:
    return IngestSettings(pseudonym_secret=SecretStr(secrets.token_urlsafe(48)),
                          qr_secret=SecretStr(secrets.token_urlsafe(48)),
                          kafka_password=SecretStr("kafka-pw"))


def test_truyvet_up_passes_the_keys_to_ingest_only() -> None:
    settings = stack()
    for spec in services.SERVICES:
        env = services._child_env(spec, settings)
        held = KEY_VARIABLES & set(env)
        assert held == (KEY_VARIABLES if spec.name == "ingest" else set()), spec.name
        assert env["TRUYVET_KAFKA_PASSWORD"] == "kafka-pw"  # what every service needs stays
    ingest = next(spec for spec in services.SERVICES if spec.name == "ingest")
    env = services._child_env(ingest, settings)
    assert env["TRUYVET_PSEUDONYM_SECRET"] == settings.pseudonym_secret.get_secret_value()


@pytest.mark.parametrize("module", ["services.tracer", "services.alerts.worker", "services.alerts"])
def test_the_other_services_settings_have_no_key_even_if_the_environment_has_one(
    module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUYVET_PSEUDONYM_SECRET", "s" * 40)
    for given in (Settings(), services.settings_for(module, stack())):
        assert type(given) is Settings
        assert not any(hasattr(given, name) for name in INGEST_SECRETS)
        assert not KEY_VARIABLES & set(given.as_env())


def test_shared_settings_keep_everything_else() -> None:
    settings = stack().model_copy(update={"topic_prefix": "p-", "ingest_port": 18_000})
    shared = settings.shared()
    assert shared.model_dump() == {
        k: v for k, v in settings.model_dump().items() if k not in INGEST_SECRETS
    }
