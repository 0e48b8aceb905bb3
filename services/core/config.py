"""Typed settings shared by every truyvet process.

Every value comes from the environment (prefix ``TRUYVET_``), so ``truyvet up``, the tests and a
production deployment configure the same code the same way. Nothing here opens a connection.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.venues import MAX_DWELL_LIMIT_S

TOPIC_NAMES = ("scans", "cases", "contacts", "alerts", "dead-letter", "registry")
DAY_S = 86_400
_DEV_SECRET_PREFIX = "dev-only-"  # noqa: S105 - a marker refused in production, not a secret


class Settings(BaseSettings):
    """Addresses, secrets and domain defaults of one truyvet deployment."""

    model_config = SettingsConfigDict(env_prefix="TRUYVET_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    state_dir: Path = Path(".truyvet")

    kafka_bootstrap: str = "127.0.0.1:9092"
    # Only used by the local stack (`truyvet up`, the test fixtures): the KRaft controller listener
    # of the single-node broker, its JVM heap, and where the broker jars resolved by Maven are kept.
    kafka_controller_port: int = Field(default=9093, ge=1, le=65_535)
    kafka_heap: str = Field(default="1g", pattern=r"^[0-9]+[kmgKMG]?$")
    cache_dir: Path = Path("~/.cache/truyvet")
    topic_prefix: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9._-]*$")

    clickhouse_host: str = "127.0.0.1"
    clickhouse_port: int = 9000
    clickhouse_http_port: int = 8123
    clickhouse_database: str = Field(default="truyvet", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    clickhouse_user: str = "default"
    clickhouse_password: SecretStr = SecretStr("")

    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8000
    alerts_host: str = "127.0.0.1"
    alerts_port: int = 8001
    # The reverse proxies (IPs or CIDR networks, comma-separated) whose X-Forwarded-For the HTTP
    # services believe. None by default: the client is the TCP peer, so nobody can pick the
    # address that the failed-authentication limit charges by sending a header.
    trusted_proxies: str = Field(default="", max_length=4096)

    # Keys of the keyed pseudonym (rule 1) and of the signed venue QR payloads.
    pseudonym_secret: SecretStr = SecretStr(_DEV_SECRET_PREFIX + "pseudonym")
    qr_secret: SecretStr = SecretStr(_DEV_SECRET_PREFIX + "qr")

    retention_days: int = Field(default=21, ge=1, le=366)
    max_clock_skew_s: int = Field(default=300, ge=0, le=3600)
    default_dwell_s: int = Field(default=3600, ge=60, le=86_400)
    max_dwell_s: int = Field(default=12 * 3600, ge=60, le=MAX_DWELL_LIMIT_S)
    min_overlap_s: int = Field(default=15 * 60, ge=1, le=86_400)
    max_degree: int = Field(default=2, ge=1, le=6)
    # The tracer holds in memory the scans of this many hours before now (a scan older than
    # that is traced against ClickHouse): at least twice the longest visit, so that a visit and
    # everything it can meet are held whole while its scans still arrive on time.
    tracer_hot_hours: int = Field(default=48, ge=1, le=366 * 24)
    # Partitions of `scans` (and so of `contacts`): how many tracer workers can share the load.
    # Set before the topics are created; see docs/scaling.md for changing it later.
    scans_partitions: int = Field(default=8, ge=1, le=1024)
    # Partitions of `cases` (keyed by case id): how many alerts workers can share the open
    # cases. Set before the topics are created, like scans_partitions.
    cases_partitions: int = Field(default=4, ge=1, le=1024)
    # Where a phone number written without its country is from (rule 13): ingest writes every
    # number in E.164 before the pseudonym, so `0912345678` and `+84912345678` are one person.
    phone_region: str = Field(default="VN", pattern=r"^[A-Z]{2}$")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        for item in _comma_list(value):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"TRUYVET_TRUSTED_PROXIES: {item!r} is not an IP address or network"
                ) from None
        return value

    @property
    def trusted_proxy_list(self) -> list[str]:
        """:attr:`trusted_proxies` as a list (empty: trust no forwarded header)."""
        return _comma_list(self.trusted_proxies)

    @field_validator("phone_region")
    @classmethod
    def _known_phone_region(cls, value: str) -> str:
        import phonenumbers  # only here: no other setting needs the numbering plans

        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region with a known numbering plan (e.g. VN)")
        return value

    @model_validator(mode="after")
    def _hot_window_holds_whole_visits(self) -> Settings:
        if self.environment == "production" and self.tracer_hot_hours * 3600 < 2 * self.max_dwell_s:
            raise ValueError(
                f"TRUYVET_TRACER_HOT_HOURS={self.tracer_hot_hours} is less than twice the longest "
                f"visit (TRUYVET_MAX_DWELL_S={self.max_dwell_s}): late scans would be traced "
                "against ClickHouse for most of every visit"
            )
        return self

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> Settings:
        if self.environment == "production":
            for name in ("pseudonym_secret", "qr_secret"):
                value = getattr(self, name).get_secret_value()
                if value.startswith(_DEV_SECRET_PREFIX) or len(value) < 32:
                    raise ValueError(
                        f"TRUYVET_{name.upper()} must be set to a random value of at least "
                        "32 characters in production"
                    )
        return self

    def topic(self, name: str) -> str:
        """The full Kafka topic name for one of :data:`TOPIC_NAMES`."""
        if name not in TOPIC_NAMES:
            raise ValueError(f"unknown topic {name!r}; expected one of {TOPIC_NAMES}")
        return f"{self.topic_prefix}{name}"

    def as_env(self) -> dict[str, str]:
        """These settings as ``TRUYVET_*`` variables, to start another process with them."""
        env = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[f"TRUYVET_{name.upper()}"] = str(value)
        return env

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.retention_days)

    @property
    def tracer_hot_s(self) -> int:
        return self.tracer_hot_hours * 3600

    @property
    def retention_s(self) -> int:
        """The retention horizon in seconds (rule 10)."""
        return self.retention_days * DAY_S


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]
