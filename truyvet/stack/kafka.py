"""A single-node Apache Kafka (KRaft, combined broker + controller) on 127.0.0.1.

The broker jars come from Maven Central through the machine's Maven (``deploy/kafka/pom.xml``),
once, into ``<cache_dir>/kafka-<version>/libs``; the broker runs on the machine's JDK as
``java -cp '<libs>/*' kafka.Kafka <state_dir>/kafka/server.properties``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from kafka.admin import KafkaAdminClient

from services.core.config import Settings
from services.core.kafka_connection import kafka_options, scram_jaas
from truyvet.stack.layout import StateLayout, deploy_file, write_private
from truyvet.stack.processes import (
    Managed,
    StackError,
    ensure_port_free,
    exited,
    log_tails,
    port_open,
    split_host_port,
    wait_for,
)
from truyvet.stack.status import PartStatus

NAME = "kafka"
LISTEN_HOST = "127.0.0.1"
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
# Long enough for a cold JVM on a 2-core CI runner, short enough to fail a broken start quickly.
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
RESOLVE_TIMEOUT_S = 900.0


# --- jars ------------------------------------------------------------------------------------


def kafka_version() -> str:
    """The Kafka version ``deploy/kafka/pom.xml`` resolves (its ``kafka.version`` property)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    # Our own file from the checkout, not untrusted input.
    pom = ET.parse(deploy_file("kafka", "pom.xml"))  # noqa: S314
    node = pom.find("m:properties/m:kafka.version", ns)
    if node is None or not (node.text or "").strip():
        raise StackError("deploy/kafka/pom.xml has no <kafka.version> property")
    return (node.text or "").strip()


def libs_dir(settings: Settings) -> Path:
    return settings.cache_dir.expanduser() / f"kafka-{kafka_version()}" / "libs"


def _pom_digest() -> str:
    return hashlib.sha256(deploy_file("kafka", "pom.xml").read_bytes()).hexdigest()


def jars_ready(settings: Settings) -> bool:
    """Whether the jars are cached and were resolved from the current pom.xml."""
    marker = libs_dir(settings).parent / "resolved.sha256"
    try:
        return marker.read_text().strip() == _pom_digest()
    except FileNotFoundError:
        return False


def ensure_jars(settings: Settings) -> Path:
    """Resolve the broker jars with Maven unless already cached; return the libs folder."""
    libs = libs_dir(settings)
    if jars_ready(settings):
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven (mvn) not found on PATH; install it: apt-get install -y maven")
    home = libs.parent
    home.mkdir(parents=True, exist_ok=True)
    # Two `up`s (or a test session and an `up`) may run at once: one resolves, the other waits.
    with _locked(home / ".lock"):
        if jars_ready(settings):
            return libs
        # Resolve into a fresh folder and swap it in: an interrupted download never looks complete.
        staging = Path(tempfile.mkdtemp(prefix="libs-", dir=home))
        argv = [
            mvn, "-q", "-B", "-Dstyle.color=never",
            "-f", str(deploy_file("kafka", "pom.xml")),
            "dependency:copy-dependencies", f"-DoutputDirectory={staging}",
        ]  # fmt: skip
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=RESOLVE_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise StackError(
                f"Maven did not resolve the Kafka jars within {RESOLVE_TIMEOUT_S:.0f} s"
            ) from exc
        if done.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
            shutil.rmtree(staging, ignore_errors=True)
            output = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
            raise StackError(
                f"Maven could not resolve the Kafka jars ({' '.join(argv)}):\n{output}"
            )
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        (home / "resolved.sha256").write_text(_pom_digest() + "\n")
    return libs


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --- configuration ---------------------------------------------------------------------------


def _paths(settings: Settings) -> tuple[Path, Path, Path]:
    """(server.properties, data dir, log4j2 log dir) of this state dir."""
    layout = StateLayout.of(settings)
    return (
        layout.kafka_dir / "server.properties",
        layout.kafka_dir / "data",
        layout.logs_dir / "kafka",
    )


CLIENT_LISTENER = "CLIENTS"


def _local_credentials(settings: Settings) -> tuple[str, str]:
    """The SCRAM user and password of the local broker, refused unless they can work."""
    if settings.kafka_security_protocol != "SASL_PLAINTEXT":
        raise StackError(
            f"TRUYVET_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol}: the local broker "
            "runs SASL_PLAINTEXT on loopback (TLS is for a deployment's own brokers)"
        )
    password = settings.kafka_password.get_secret_value()
    if not settings.kafka_username or not password:
        raise StackError("the local broker needs TRUYVET_KAFKA_USERNAME and TRUYVET_KAFKA_PASSWORD "
                         "(`truyvet up` generates the password into the state dir)")
    return settings.kafka_username, password


def server_properties(settings: Settings) -> dict[str, str]:
    """The broker configuration for ``settings`` (single node: every replication factor is 1).

    Clients (and the broker itself, as its own inter-broker peer) log in with SCRAM on the
    client listener; the users exist from the moment the storage is formatted. The controller
    listener stays plaintext on loopback: only this one process speaks on it.
    """
    host, port = split_host_port(settings.kafka_bootstrap)
    controller = f"{LISTEN_HOST}:{settings.kafka_controller_port}"
    _, data_dir, _ = _paths(settings)
    username, password = _local_credentials(settings)
    mechanism = settings.kafka_sasl_mechanism
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        # A static one-voter quorum: formatted once, nothing to bootstrap dynamically.
        "controller.quorum.voters": f"1@{controller}",
        "controller.listener.names": "CONTROLLER",
        "listeners": f"{CLIENT_LISTENER}://{LISTEN_HOST}:{port},CONTROLLER://{controller}",
        "advertised.listeners": f"{CLIENT_LISTENER}://{host}:{port}",
        "inter.broker.listener.name": CLIENT_LISTENER,
        "listener.security.protocol.map":
            f"CONTROLLER:PLAINTEXT,{CLIENT_LISTENER}:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": mechanism,
        "sasl.mechanism.inter.broker.protocol": mechanism,
        f"listener.name.{CLIENT_LISTENER.lower()}.{mechanism.lower()}.sasl.jaas.config":
            scram_jaas(username, password),
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        # 50 partitions by default; 10 make the first consumer group come up faster in tests.
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "10",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Topics are created with explicit partitions and configs (truyvet/stack/topics.py); a typo
        # in a topic name must fail loudly instead of creating a 1-partition topic.
        "auto.create.topics.enable": "false",
        # Batched scan requests are produced as large messages.
        "message.max.bytes": str(MAX_MESSAGE_BYTES),
        "replica.fetch.max.bytes": str(MAX_MESSAGE_BYTES),
        # One broker, consumers that come and go in tests: waiting 3 s for more members is waste.
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "3",
        "num.io.threads": "8",
        "log.retention.check.interval.ms": "300000",
    }


def write_config(settings: Settings) -> Path:
    """Write ``<state_dir>/kafka/server.properties`` and return its path."""
    properties_file, data_dir, log_dir = _paths(settings)
    for folder in (properties_file.parent, data_dir, log_dir):
        folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Written by truyvet/stack/kafka.py from Settings on every start;",
        "# change the TRUYVET_* settings, not this file.",
        *(f"{key}={value}" for key, value in server_properties(settings).items()),
    ]
    write_private(properties_file, "\n".join(lines) + "\n")  # it holds the SCRAM password
    return properties_file


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if java is None or not Path(java).exists():
        raise StackError(
            "java not found (JAVA_HOME or PATH); Kafka needs JDK 17+: "
            "apt-get install -y openjdk-17-jre-headless"
        )
    return java


def _jvm_argv(settings: Settings, libs: Path) -> list[str]:
    _, _, log_dir = _paths(settings)
    return [
        _java(),
        f"-Xmx{settings.kafka_heap}",
        # The GC settings of the distribution's kafka-run-class.sh.
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={log_dir}",
        f"-Dlog4j2.configurationFile={deploy_file('kafka', 'log4j2.xml')}",
        "-cp",
        f"{libs}/*",
    ]


def new_cluster_id() -> str:
    """A random Kafka cluster id: 16 random bytes, URL-safe base64 without padding.

    Like Kafka's own ``Uuid.randomUuid()``, never one that starts with ``-``: the storage tool
    would read it as an option ("argument --cluster-id: expected one argument"), which happens to
    1 id in 64 otherwise.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _credentials_digest(settings: Settings) -> str:
    username, password = _local_credentials(settings)
    login = f"{settings.kafka_sasl_mechanism}:{username}:{password}"
    return hashlib.sha256(login.encode()).hexdigest()


def format_storage(settings: Settings, libs: Path) -> bool:
    """Format the KRaft log dir once (``kafka.tools.StorageTool``), with the SCRAM user of
    ``settings``; False if already formatted (with that same user)."""
    properties_file, data_dir, _ = _paths(settings)
    marker = data_dir / "truyvet-scram.sha256"
    if (data_dir / "meta.properties").exists():
        if not marker.exists() or marker.read_text().strip() != _credentials_digest(settings):
            raise StackError(
                f"the Kafka data in {data_dir} was formatted for other SCRAM credentials than "
                "these settings' (TRUYVET_KAFKA_USERNAME / _PASSWORD, "
                f"{StateLayout.of(settings).secrets_file}); stop the stack and delete "
                f"{data_dir.parent} to start afresh"
            )
        return False
    username, password = _local_credentials(settings)
    cluster_id = new_cluster_id()
    argv = [
        *_jvm_argv(settings, libs),
        "kafka.tools.StorageTool", "format",
        "--cluster-id", cluster_id,
        "--config", str(properties_file),
        "--add-scram", f"{settings.kafka_sasl_mechanism}=[name={username},password={password}]",
    ]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired as exc:
        raise StackError("formatting the Kafka storage took more than 120 s") from exc
    if done.returncode != 0:
        raise StackError(f"formatting the Kafka storage failed:\n{done.stdout}{done.stderr}")
    marker.write_text(_credentials_digest(settings) + "\n")
    return True


# --- process ---------------------------------------------------------------------------------


def process(settings: Settings) -> Managed:
    layout = StateLayout.of(settings)
    properties_file, _, _ = _paths(settings)
    return Managed(NAME, layout.pid_file(NAME), layout.log_file(NAME), marker=str(properties_file))


def is_ready(settings: Settings, *, timeout: float = 5.0) -> bool:
    """Whether a Kafka client can bootstrap and list the topics."""
    host, port = split_host_port(settings.kafka_bootstrap)
    if not port_open(host, port):  # cheap, and spares the client's connection-refused noise
        return False
    timeout_ms = int(timeout * 1000)
    try:
        admin = KafkaAdminClient(
            **kafka_options(settings),
            client_id="truyvet-stack-probe",
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        )
    except Exception:  # NoBrokersAvailable and friends: not ready yet, whatever the reason
        return False
    try:
        admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        admin.close()


def start(settings: Settings) -> tuple[int, bool]:
    """Start the broker unless it runs already; wait until it answers. Returns (pid, started)."""
    proc = process(settings)
    if (pid := proc.pid()) is not None:
        _wait_ready(settings, proc, pid, None)
        return pid, False
    host, port = split_host_port(settings.kafka_bootstrap)
    ensure_port_free(host, port, wanted_by="Kafka")
    ensure_port_free(LISTEN_HOST, settings.kafka_controller_port, wanted_by="the Kafka controller")
    libs = ensure_jars(settings)
    properties_file = write_config(settings)
    format_storage(settings, libs)
    child = proc.spawn(
        [*_jvm_argv(settings, libs), "kafka.Kafka", str(properties_file)],
        cwd=properties_file.parent,  # where a JVM crash drops its hs_err file
    )
    _wait_ready(settings, proc, child.pid, child)
    return child.pid, True


def _wait_ready(
    settings: Settings, proc: Managed, pid: int, child: subprocess.Popen[bytes] | None
) -> None:
    _, _, log_dir = _paths(settings)
    logs = (log_dir / "server.log", proc.log_file)

    def gone() -> str | None:
        if not exited(pid, child):
            return None
        return f"Kafka exited during start-up.\n{log_tails(*logs)}"

    if not wait_for(lambda: is_ready(settings, timeout=2.0), timeout=START_TIMEOUT_S, abort=gone):
        raise StackError(
            f"Kafka (pid {pid}) did not answer on {settings.kafka_bootstrap} within "
            f"{START_TIMEOUT_S:.0f} s.\n{log_tails(*logs)}"
        )


def stop(settings: Settings) -> int | None:
    """Stop the broker this state dir started (controlled shutdown first); return its pid."""
    return process(settings).stop(timeout=STOP_TIMEOUT_S)


def status(settings: Settings) -> PartStatus:
    pid = process(settings).pid()
    healthy = pid is not None and is_ready(settings, timeout=3.0)
    return PartStatus.of(NAME, pid=pid, address=settings.kafka_bootstrap, healthy=healthy)
