"""Typed settings shared by every truyvet process.

Every value comes from the environment (prefix ``TRUYVET_``), so ``truyvet up``, the tests and a
production deployment configure the same code the same way. Nothing here opens a connection.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.venues import MAX_DWELL_LIMIT_S
from services.core.production import is_loopback, secret_problems

if TYPE_CHECKING:
    from services.core.directory import AuthorityPublicKey

KafkaProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL"]
TOPIC_NAMES = ("scans", "cases", "contacts", "alerts", "dead-letter", "registry", "audit",
               "directory", "clusters")
DAY_S = 86_400
_DEV_SECRET_PREFIX = "dev-only-"  # noqa: S105 - public defaults, refused in production


def default_state_dir() -> Path:
    """Where a stack keeps its state when ``TRUYVET_STATE_DIR`` does not say.

    ``.truyvet/`` in the project's own folder (the checkout this code runs from, found by its
    ``pyproject.toml``); for an install outside a checkout, ``$XDG_STATE_HOME/truyvet`` (by
    default ``~/.local/state/truyvet``). Either way the same from every working directory.
    """
    project = Path(__file__).resolve().parents[2]
    if (project / "pyproject.toml").is_file():
        return project / ".truyvet"
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "truyvet"


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone, e.g. Asia/Ho_Chi_Minh") from exc
    return name


class Settings(BaseSettings):
    """Addresses, secrets and domain defaults of one truyvet deployment."""

    model_config = SettingsConfigDict(env_prefix="TRUYVET_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    # TRUYVET_STATE_DIR, else the project's own `.truyvet/` (see default_state_dir): never the
    # working directory's, so `truyvet status` finds a running stack from anywhere.
    state_dir: Path = Field(default_factory=lambda: default_state_dir())

    kafka_bootstrap: str = "127.0.0.1:9092"
    # How every Kafka client (services, CLI, tests, benchmarks) authenticates: SCRAM over SASL by
    # default, as the local stack runs it; SASL_SSL or SSL (mutual TLS with a client certificate)
    # in production. The files are PEM; without a CA file the system's trust store is used.
    kafka_security_protocol: KafkaProtocol = "SASL_PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    kafka_username: str = Field(default="truyvet", max_length=256)
    kafka_password: SecretStr = SecretStr("")
    kafka_ca_file: Path | None = None
    kafka_cert_file: Path | None = None
    kafka_key_file: Path | None = None
    # Only used by the local stack (`truyvet up`, the test fixtures): the KRaft controller listener
    # of the (first) broker, each broker's JVM heap, and where the broker jars resolved by Maven
    # are kept.
    kafka_controller_port: int = Field(default=9093, ge=1, le=65_535)
    kafka_heap: str = Field(default="1g", pattern=r"^[0-9]+[kmgKMG]?$")
    # How many brokers the local stack runs (`truyvet up --kafka-brokers 3`): one, or a KRaft
    # cluster on this machine whose topics are replicated (factor min(3, brokers), with
    # min.insync.replicas one less). Broker k (from 0) listens on the bootstrap's first port + 2k
    # and the controller port + 2k, unless the bootstrap lists every broker's address itself.
    kafka_brokers: int = Field(default=1, ge=1, le=9)
    cache_dir: Path = Path("~/.cache/truyvet")
    topic_prefix: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9._-]*$")

    clickhouse_host: str = "127.0.0.1"
    clickhouse_port: int = 9000
    clickhouse_http_port: int = 8123
    clickhouse_database: str = Field(default="truyvet", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    clickhouse_user: str = "truyvet"
    clickhouse_password: SecretStr = SecretStr("")
    # TLS to ClickHouse's secure native port (9440 by default on a server that has it).
    clickhouse_secure: bool = False
    clickhouse_ca_file: Path | None = None

    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8000
    alerts_host: str = "127.0.0.1"
    alerts_port: int = 8001
    # HTTPS for the HTTP services (PEM files), or the declaration that a reverse proxy in front
    # terminates TLS for them. Production refuses a bind beyond loopback with neither.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_terminated_by_proxy: bool = False
    # A connection must send a complete request head this soon after it opens (or after its
    # previous answer), and a request body must arrive whole within the body timeout.
    http_header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    http_body_timeout_s: float = Field(default=120.0, gt=0, le=3600)
    # The reverse proxies (IPs or CIDR networks, comma-separated) whose X-Forwarded-For the HTTP
    # services believe. None by default: the client is the TCP peer, so nobody can pick the
    # address that the failed-authentication limit charges by sending a header.
    trusted_proxies: str = Field(default="", max_length=4096)

    # Logs: text for people, or one JSON object a line (services/core/logs.py).
    log_format: Literal["text", "json"] = "text"
    # Where the workers serve their Prometheus metrics (the HTTP services: at /metrics on their
    # own port). 0: a worker serves none, e.g. where several share one machine's settings.
    metrics_host: str = "127.0.0.1"
    tracer_metrics_port: int = Field(default=9464, ge=0, le=65_535)
    alerts_worker_metrics_port: int = Field(default=9465, ge=0, le=65_535)
    # Only used by the local stack: the Prometheus that `truyvet up` starts.
    prometheus_port: int = Field(default=9090, ge=1, le=65_535)
    # Key of the per-case pseudonyms the alerts API shows authority readers (a keyed hash of
    # case id and pseudonym), so two cases' answers cannot be joined without the server. Only
    # the alerts API needs it; it is not the pseudonym secret and cannot make a pseudonym.
    read_secret: SecretStr = SecretStr(_DEV_SECRET_PREFIX + "read")
    # Aggregates the dashboard role reads show a count below this as suppressed (null).
    min_group: int = Field(default=5, ge=1, le=1000)
    # The health authority's X25519 public keys (``KEY_ID:BASE64``, comma-separated, the first
    # sealing; ``truyvet authority keygen`` prints one): ingest seals each identifier to it for
    # the contact directory. Public: no process has a setting for the private key.
    authority_public_keys: str = Field(default="", max_length=4096)
    # Follow-up of the people alerted: how long after exposure (WHO Go.Data: 14 days), and how
    # soon after the alert a contact should have been reached before it is listed as overdue.
    follow_up_days: int = Field(default=14, ge=1, le=60)
    reach_within_h: int = Field(default=24, ge=1, le=24 * 14)
    # Where ingest reaches the alerts API for a person's status (empty: from ALERTS_HOST/PORT).
    alerts_url: str = Field(default="", max_length=512)
    # The zone a person reads times in (the dashboard, a venue's own hourly counts): the days
    # they ask for are local days. Stored and compared in UTC all the same.
    timezone: str = Field(default="Asia/Ho_Chi_Minh", max_length=64)

    retention_days: int = Field(default=21, ge=1, le=366)
    # Rule 10: cases, alerts and the audit log (tables and topics) are kept this long.
    audit_retention_days: int = Field(default=365, ge=1, le=3660)
    max_clock_skew_s: int = Field(default=300, ge=0, le=3600)
    default_dwell_s: int = Field(default=3600, ge=60, le=86_400)
    max_dwell_s: int = Field(default=12 * 3600, ge=60, le=MAX_DWELL_LIMIT_S)
    min_overlap_s: int = Field(default=15 * 60, ge=1, le=86_400)
    max_degree: int = Field(default=2, ge=1, le=6)
    # Risk per alert (services/alerts/domain/risk.py): transmission risk weights by whole days
    # since the case's onset, as `day:weight` pairs (Corona-Warn-App's values by default), and
    # the weighted exposure minutes at which an alert's risk is medium and high.
    risk_day_weights: str = Field(
        default="-2:1.0,-1:1.4,0:1.6,1:1.6,2:1.4,3:1.2,4:1.0,5:0.8,6:0.6",
        max_length=2000,
        pattern=r"^\s*-?\d+\s*:\s*\d+(\.\d+)?\s*(,\s*-?\d+\s*:\s*\d+(\.\d+)?\s*)*$")
    # How often the alerts worker reads the venue alerts' kill switch and re-traces every open
    # exposure event (a late visit with no contact at all is found this way).
    exposure_recheck_s: float = Field(default=5.0, gt=0, le=3600)
    # How often the alerts worker owning `cases` partition 0 looks for clusters (rule 12).
    cluster_check_s: float = Field(default=10.0, gt=0, le=3600)
    risk_medium_at: float = Field(default=5.0, ge=0, le=100_000)
    risk_high_at: float = Field(default=10.0, ge=0, le=100_000)
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

    @field_validator("authority_public_keys")
    @classmethod
    def _public_keys_parse(cls, value: str) -> str:
        from services.core.directory import parse_public_keys

        parse_public_keys(value)  # a DirectoryKeyError is a ValueError: refused at start-up
        return value

    @property
    def sealing_keys(self) -> list[AuthorityPublicKey]:
        """:attr:`authority_public_keys` parsed, the one ingest seals to first."""
        from services.core.directory import parse_public_keys

        return parse_public_keys(self.authority_public_keys)

    @property
    def alerts_base_url(self) -> str:
        """The alerts API's address as the other services reach it."""
        if self.alerts_url:
            return self.alerts_url.rstrip("/")
        scheme = "https" if self.tls_cert_file else "http"
        return f"{scheme}://{self.alerts_host}:{self.alerts_port}"

    @property
    def trusted_proxy_list(self) -> list[str]:
        """:attr:`trusted_proxies` as a list (empty: trust no forwarded header)."""
        return _comma_list(self.trusted_proxies)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return _known_zone(value)

    @property
    def zone(self) -> ZoneInfo:
        """:attr:`timezone` as a ``ZoneInfo``."""
        return ZoneInfo(self.timezone)

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
    def _tls_files_in_pairs(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("TRUYVET_TLS_CERT_FILE and TRUYVET_TLS_KEY_FILE go together")
        return self

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.environment != "production":
            return self
        problems = secret_problems({
            f"TRUYVET_{name.upper()}": value.get_secret_value()
            for name, value in self
            if isinstance(value, SecretStr) and (name != "kafka_password" or self._kafka_sasl)
        })
        if not self.kafka_security_protocol.endswith("SSL"):
            problems.insert(0, f"TRUYVET_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol}: "
                            "Kafka must be reached over TLS (SASL_SSL or SSL)")
        if self.kafka_security_protocol == "SSL" and self.kafka_cert_file is None:
            problems.insert(0, "TRUYVET_KAFKA_SECURITY_PROTOCOL=SSL needs a client certificate "
                            "(TRUYVET_KAFKA_CERT_FILE, _KEY_FILE): brokers must know who connects")
        if not self.clickhouse_secure and not is_loopback(self.clickhouse_host):
            problems.insert(0, f"ClickHouse at {self.clickhouse_host} must be reached over TLS "
                            "(TRUYVET_CLICKHOUSE_SECURE=true)")
        for service in ("ingest", "alerts"):
            host = getattr(self, f"{service}_host")
            if not (is_loopback(host) or self.tls_cert_file or self.tls_terminated_by_proxy):
                problems.insert(0, f"TRUYVET_{service.upper()}_HOST={host} serves beyond this "
                                "machine without TLS: set TRUYVET_TLS_CERT_FILE and _KEY_FILE, "
                                "or TRUYVET_TLS_TERMINATED_BY_PROXY=true behind a TLS proxy")
        if problems:
            raise ValueError("refused in production: " + "; ".join(problems))
        return self

    @property
    def _kafka_sasl(self) -> bool:
        return self.kafka_security_protocol.startswith("SASL_")

    def topic(self, name: str) -> str:
        """The full Kafka topic name for one of :data:`TOPIC_NAMES`."""
        if name not in TOPIC_NAMES:
            raise ValueError(f"unknown topic {name!r}; expected one of {TOPIC_NAMES}")
        return f"{self.topic_prefix}{name}"

    def as_env(self) -> dict[str, str]:
        """These settings as ``TRUYVET_*`` variables, to start another process with them."""
        env = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue  # unset (an optional file): the other process's default is None too
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[f"TRUYVET_{name.upper()}"] = str(value)
        return env

    @model_validator(mode="after")
    def _risk_thresholds_ordered(self) -> Settings:
        if self.risk_medium_at > self.risk_high_at:
            raise ValueError("TRUYVET_RISK_MEDIUM_AT must not be above TRUYVET_RISK_HIGH_AT")
        return self

    @property
    def risk_weights(self) -> dict[int, float]:
        """``risk_day_weights`` as {day since onset: weight}.

        Example:
            >>> Settings(risk_day_weights="-1:0.5, 0:1.5").risk_weights
            {-1: 0.5, 0: 1.5}
        """
        pairs = (item.split(":") for item in _comma_list(self.risk_day_weights))
        return {int(day): float(weight) for day, weight in pairs}

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


INGEST_SECRETS = ("pseudonym_secret", "qr_secret")


class IngestSettings(Settings):
    """Settings of ingest (and of the operator's CLI, which prints venues' QR payloads): the
    shared ones plus the two keys only ingest may hold.

    Whoever holds the pseudonym key can reverse every pseudonym (phone numbers are a small
    space), so the tracer, the alerts worker and the alerts API are started with
    :meth:`shared` settings, in which these fields do not exist.
    """

    # Keys of the keyed pseudonym (rule 1) and of the signed venue QR payloads.
    pseudonym_secret: SecretStr = SecretStr(_DEV_SECRET_PREFIX + "pseudonym")
    qr_secret: SecretStr = SecretStr(_DEV_SECRET_PREFIX + "qr")

    def shared(self) -> Settings:
        """These settings without the ingest-only keys: what every other process gets."""
        return Settings.model_construct(
            _fields_set=self.model_fields_set - set(INGEST_SECRETS),
            **{name: getattr(self, name) for name in Settings.model_fields},
        )
