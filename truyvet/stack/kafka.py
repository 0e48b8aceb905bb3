"""Apache Kafka on 127.0.0.1 (KRaft, each broker also a controller): one broker, or a cluster
of ``TRUYVET_KAFKA_BROKERS`` on this machine.

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
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

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
    terminate_group,
    wait_for,
)
from truyvet.stack.status import PartStatus
from truyvet.stack.topics import replication_of

AnySettings = TypeVar("AnySettings", bound=Settings)

NAME = "kafka"
LISTEN_HOST = "127.0.0.1"
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
# Long enough for a cold JVM on a 2-core CI runner, short enough to fail a broken start quickly.
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
# How long a broker may go on shutting down after the cluster's quorum has left (see stop).
QUORUM_LOST_GRACE_S = 5.0
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


CLIENT_LISTENER = "CLIENTS"
# Broker k (from 0) of a cluster whose addresses are derived from the first one listens on the
# first ports + 2k: 9092/9093, 9094/9095, 9096/9097 by default.
PORT_STEP = 2
_SIZE_FILE = "brokers"  # in the kafka dir: how many brokers its storage was formatted for


@dataclass(frozen=True)
class Broker:
    """One broker (combined with a KRaft controller) of the local cluster."""

    node_id: int  # 1, 2, ...
    host: str  # the host clients are told to reach it at
    port: int  # its client listener on LISTEN_HOST
    controller_port: int
    home: Path  # its server.properties and data/
    log_dir: Path  # log4j2's files

    @property
    def name(self) -> str:
        """``kafka`` for the first broker (as a single-broker stack has always had it), then
        ``kafka-2``, ``kafka-3``, ...: its pid and log file names."""
        return NAME if self.node_id == 1 else f"{NAME}-{self.node_id}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def properties_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"


def formatted_size(settings: Settings) -> int | None:
    """How many brokers this state dir's Kafka storage was formatted for (None: not yet)."""
    kafka_dir = StateLayout.of(settings).kafka_dir
    try:
        return int((kafka_dir / _SIZE_FILE).read_text().strip())
    except FileNotFoundError:
        # Formatted before clusters existed: a single broker.
        return 1 if (kafka_dir / "data" / "meta.properties").exists() else None
    except ValueError as exc:
        raise StackError(f"{kafka_dir / _SIZE_FILE} does not hold a number of brokers") from exc


def cluster_size(settings: Settings) -> int:
    """How many brokers the stack of ``settings`` runs: ``TRUYVET_KAFKA_BROKERS`` when set, else
    what its storage was formatted for (so ``down`` and ``status`` need no flag), else 1."""
    if "kafka_brokers" in settings.model_fields_set:
        return settings.kafka_brokers
    return formatted_size(settings) or settings.kafka_brokers


def broker_addresses(bootstrap: str, size: int) -> list[tuple[str, int]]:
    """The ``(host, port)`` of each of ``size`` brokers: the bootstrap's own list when it names
    every broker, else ports every PORT_STEP from its (only) address; a single broker is the
    bootstrap's first address.

    >>> broker_addresses("127.0.0.1:9092", 3)
    [('127.0.0.1', 9092), ('127.0.0.1', 9094), ('127.0.0.1', 9096)]
    >>> broker_addresses("127.0.0.1:9092,127.0.0.1:9200", 2)
    [('127.0.0.1', 9092), ('127.0.0.1', 9200)]
    >>> broker_addresses("127.0.0.1:9092,127.0.0.1:9200", 3)
    Traceback (most recent call last):
    ...
    truyvet.stack.processes.StackError: TRUYVET_KAFKA_BOOTSTRAP names 2 brokers, but ...
    """
    listed = [split_host_port(item) for item in bootstrap.split(",") if item.strip()]
    if len(listed) == size or size == 1:  # one broker: the first address, as it always was
        return listed[:size]
    if len(listed) != 1:
        raise StackError(
            f"TRUYVET_KAFKA_BOOTSTRAP names {len(listed)} brokers, but the stack runs {size} "
            f"(TRUYVET_KAFKA_BROKERS): list one address, or all {size}"
        )
    host, port = listed[0]
    return [(host, port + PORT_STEP * k) for k in range(size)]


def brokers(settings: Settings, size: int | None = None) -> list[Broker]:
    """The brokers of the local cluster (``size`` of them; by default :func:`cluster_size`)."""
    size = cluster_size(settings) if size is None else size
    layout = StateLayout.of(settings)
    found = []
    for k, (host, port) in enumerate(broker_addresses(settings.kafka_bootstrap, size)):
        node_id = k + 1
        first = node_id == 1  # where a single-broker stack has always kept its files
        found.append(Broker(
            node_id=node_id,
            host=host,
            port=port,
            controller_port=settings.kafka_controller_port + PORT_STEP * k,
            home=layout.kafka_dir if first else layout.kafka_dir / f"node-{node_id}",
            log_dir=layout.logs_dir / (NAME if first else f"{NAME}-{node_id}"),
        ))
    ports = [port for b in found for port in (b.port, b.controller_port)]
    if len(set(ports)) != len(ports):
        raise StackError(
            "the Kafka brokers' client and controller ports overlap "
            f"({', '.join(f'{b.name}: {b.port}/{b.controller_port}' for b in found)}); set "
            "TRUYVET_KAFKA_BOOTSTRAP and TRUYVET_KAFKA_CONTROLLER_PORT further apart"
        )
    return found


def with_cluster(settings: AnySettings) -> AnySettings:
    """``settings`` with every local broker in the bootstrap and the cluster's size, so that the
    services started on them (and every client they make) can reach any broker.

    Unchanged for a single broker.
    """
    size = cluster_size(settings)
    if size == 1:
        return settings
    bootstrap = ",".join(b.address for b in brokers(settings, size))
    return settings.model_copy(update={"kafka_bootstrap": bootstrap, "kafka_brokers": size})


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


def server_properties(settings: Settings, broker: Broker | None = None) -> dict[str, str]:
    """The configuration of ``broker`` (by default the first) for ``settings``.

    Every broker is also a KRaft controller: one broker is a one-voter quorum, three are a
    three-voter quorum that outlives the loss of any one of them. Internal topics are replicated
    like the pipeline's (``replication_of``): factor 1 on one broker, 3 with
    ``min.insync.replicas=2`` on three.

    Clients (and the brokers themselves, as each other's inter-broker peers) log in with SCRAM
    on the client listener; every broker's storage is formatted with the same user, so the user
    exists from the cluster's first moment. The controller listeners stay plaintext on loopback:
    only these processes speak on them.
    """
    cluster = brokers(settings)
    broker = broker or cluster[0]
    factor, min_insync = replication_of(len(cluster))
    controller = f"{LISTEN_HOST}:{broker.controller_port}"
    username, password = _local_credentials(settings)
    mechanism = settings.kafka_sasl_mechanism
    return {
        "process.roles": "broker,controller",
        "node.id": str(broker.node_id),
        # A static quorum of every broker: formatted once, nothing to bootstrap dynamically.
        "controller.quorum.voters": ",".join(
            f"{b.node_id}@{LISTEN_HOST}:{b.controller_port}" for b in cluster
        ),
        "controller.listener.names": "CONTROLLER",
        "listeners": f"{CLIENT_LISTENER}://{LISTEN_HOST}:{broker.port},CONTROLLER://{controller}",
        "advertised.listeners": f"{CLIENT_LISTENER}://{broker.address}",
        "inter.broker.listener.name": CLIENT_LISTENER,
        "listener.security.protocol.map":
            f"CONTROLLER:PLAINTEXT,{CLIENT_LISTENER}:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": mechanism,
        "sasl.mechanism.inter.broker.protocol": mechanism,
        f"listener.name.{CLIENT_LISTENER.lower()}.{mechanism.lower()}.sasl.jaas.config":
            scram_jaas(username, password),
        "log.dirs": str(broker.data_dir),
        "num.partitions": "1",
        "default.replication.factor": str(factor),
        "min.insync.replicas": str(min_insync),
        "offsets.topic.replication.factor": str(factor),
        # 50 partitions by default; 10 make the first consumer group come up faster in tests.
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": str(factor),
        "transaction.state.log.min.isr": str(min_insync),
        "transaction.state.log.num.partitions": "10",
        "share.coordinator.state.topic.replication.factor": str(factor),
        "share.coordinator.state.topic.min.isr": str(min_insync),
        # Topics are created with explicit partitions and configs (truyvet/stack/topics.py); a typo
        # in a topic name must fail loudly instead of creating a 1-partition topic.
        "auto.create.topics.enable": "false",
        # Batched scan requests are produced as large messages.
        "message.max.bytes": str(MAX_MESSAGE_BYTES),
        "replica.fetch.max.bytes": str(MAX_MESSAGE_BYTES),
        # Consumers that come and go in tests: waiting 3 s for more members is waste.
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "3",
        "num.io.threads": "8",
        "log.retention.check.interval.ms": "300000",
    }


def write_config(settings: Settings, broker: Broker | None = None) -> Path:
    """Write ``broker``'s (by default the first's) ``server.properties`` and return its path."""
    broker = broker or brokers(settings)[0]
    for folder in (broker.home, broker.data_dir, broker.log_dir):
        folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Written by truyvet/stack/kafka.py from Settings on every start;",
        "# change the TRUYVET_* settings, not this file.",
        *(f"{key}={value}" for key, value in server_properties(settings, broker).items()),
    ]
    write_private(broker.properties_file, "\n".join(lines) + "\n")  # it holds the password
    return broker.properties_file


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if java is None or not Path(java).exists():
        raise StackError(
            "java not found (JAVA_HOME or PATH); Kafka needs JDK 17+: "
            "apt-get install -y openjdk-17-jre-headless"
        )
    return java


def _jvm_argv(settings: Settings, libs: Path, log_dir: Path) -> list[str]:
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


def _cluster_id_of(cluster: list[Broker]) -> str | None:
    """The cluster id a broker of ``cluster`` was formatted with already (None: none was)."""
    for broker in cluster:
        meta = broker.data_dir / "meta.properties"
        if meta.exists():
            for line in meta.read_text().splitlines():
                key, sep, value = line.partition("=")
                if sep and key.strip() == "cluster.id":
                    return value.strip()
    return None


def _check_size(settings: Settings) -> None:
    formatted, wanted = formatted_size(settings), cluster_size(settings)
    if formatted is not None and formatted != wanted:
        kafka_dir = StateLayout.of(settings).kafka_dir
        raise StackError(
            f"the Kafka data in {kafka_dir} was formatted for {formatted} broker(s), but "
            f"TRUYVET_KAFKA_BROKERS (--kafka-brokers) asks for {wanted}: a cluster keeps its "
            f"size; stop the stack and delete {kafka_dir} to start afresh with {wanted}"
        )


def format_storage(settings: Settings, libs: Path, broker: Broker | None = None) -> bool:
    """Format ``broker``'s (by default the first's) KRaft log dir once
    (``kafka.tools.StorageTool``) with the cluster's id and the SCRAM user of ``settings``;
    False if already formatted (with that same user)."""
    cluster = brokers(settings)
    broker = broker or cluster[0]
    marker = broker.data_dir / "truyvet-scram.sha256"
    if (broker.data_dir / "meta.properties").exists():
        if not marker.exists() or marker.read_text().strip() != _credentials_digest(settings):
            raise StackError(
                f"the Kafka data in {broker.data_dir} was formatted for other SCRAM credentials "
                "than these settings' (TRUYVET_KAFKA_USERNAME / _PASSWORD, "
                f"{StateLayout.of(settings).secrets_file}); stop the stack and delete "
                f"{StateLayout.of(settings).kafka_dir} to start afresh"
            )
        return False
    username, password = _local_credentials(settings)
    # Every broker of one cluster carries the same id (and the same SCRAM user).
    cluster_id = _cluster_id_of(cluster) or new_cluster_id()
    size_file = StateLayout.of(settings).kafka_dir / _SIZE_FILE
    size_file.parent.mkdir(parents=True, exist_ok=True)
    size_file.write_text(f"{len(cluster)}\n")
    argv = [
        *_jvm_argv(settings, libs, broker.log_dir),
        "kafka.tools.StorageTool", "format",
        "--cluster-id", cluster_id,
        "--config", str(broker.properties_file),
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


def broker_process(settings: Settings, broker: Broker) -> Managed:
    layout = StateLayout.of(settings)
    return Managed(broker.name, layout.pid_file(broker.name), layout.log_file(broker.name),
                   marker=str(broker.properties_file))


def process(settings: Settings) -> Managed:
    """The first broker's process (the only one of a single-broker stack)."""
    return broker_process(settings, brokers(settings)[0])


def pids(settings: Settings) -> list[int]:
    """The pids of the brokers that run, in node order."""
    return [pid for b in brokers(settings) if (pid := broker_process(settings, b).pid())]


def _answers(settings: Settings, bootstrap: str, timeout: float) -> bool:
    host, port = split_host_port(bootstrap)
    if not port_open(host, port):  # cheap, and spares the client's connection-refused noise
        return False
    timeout_ms = int(timeout * 1000)
    try:
        admin = KafkaAdminClient(
            **{**kafka_options(settings), "bootstrap_servers": bootstrap},
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


def broker_ready(settings: Settings, broker: Broker, *, timeout: float = 5.0) -> bool:
    """Whether a Kafka client can bootstrap from ``broker`` alone and list the topics."""
    return _answers(settings, broker.address, timeout)


def is_ready(settings: Settings, *, timeout: float = 5.0) -> bool:
    """Whether every broker answers a Kafka client (bootstrap and list the topics)."""
    return all(broker_ready(settings, b, timeout=timeout) for b in brokers(settings))


def start(settings: Settings) -> tuple[int, bool]:
    """Start every broker that does not run already; wait until each answers.

    Returns (the first broker's pid, whether any broker was started now). A cluster's brokers
    are all started before any is waited for: none answers before a quorum of them runs.
    """
    _check_size(settings)
    cluster = brokers(settings)
    waiting: list[tuple[Broker, Managed, int, subprocess.Popen[bytes] | None]] = []
    to_start = []
    for broker in cluster:
        proc = broker_process(settings, broker)
        if (pid := proc.pid()) is not None:
            waiting.append((broker, proc, pid, None))
        else:
            to_start.append((broker, proc))
    if to_start:
        for broker, _ in to_start:
            ensure_port_free(LISTEN_HOST, broker.port, wanted_by=f"Kafka ({broker.name})")
            ensure_port_free(LISTEN_HOST, broker.controller_port,
                             wanted_by=f"the Kafka controller of {broker.name}")
        libs = ensure_jars(settings)
        for broker, proc in to_start:
            properties_file = write_config(settings, broker)
            format_storage(settings, libs, broker)
            spawned = proc.spawn(
                [*_jvm_argv(settings, libs, broker.log_dir), "kafka.Kafka", str(properties_file)],
                cwd=broker.home,  # where a JVM crash drops its hs_err file
            )
            waiting.append((broker, proc, spawned.pid, spawned))
    for broker, proc, pid, child in sorted(waiting, key=lambda item: item[0].node_id):
        _wait_ready(settings, broker, proc, pid, child)
    first = next(pid for broker, _, pid, _ in waiting if broker.node_id == 1)
    return first, bool(to_start)


def _wait_ready(
    settings: Settings, broker: Broker, proc: Managed, pid: int,
    child: subprocess.Popen[bytes] | None,
) -> None:
    logs = (broker.log_dir / "server.log", proc.log_file)

    def gone() -> str | None:
        if not exited(pid, child):
            return None
        return f"Kafka ({broker.name}) exited during start-up.\n{log_tails(*logs)}"

    ready = wait_for(lambda: broker_ready(settings, broker, timeout=2.0),
                     timeout=START_TIMEOUT_S, abort=gone)
    if not ready:
        raise StackError(
            f"Kafka ({broker.name}, pid {pid}) did not answer on {broker.address} within "
            f"{START_TIMEOUT_S:.0f} s.\n{log_tails(*logs)}"
        )


def stop(settings: Settings) -> int | None:
    """Stop every broker this state dir started (controlled shutdown first); return the first
    broker's pid, or another stopped one's, or None when none ran."""
    size = max(cluster_size(settings), formatted_size(settings) or 1)
    running = [proc for b in brokers(settings, size)
               if (proc := broker_process(settings, b)).pid() is not None]
    if len(running) <= 1:
        return running[0].stop(timeout=STOP_TIMEOUT_S) if running else None
    return _stop_cluster(running, voters=size)


def _stop_cluster(running: list[Managed], *, voters: int) -> int | None:
    """Stop brokers of one cluster together.

    Each broker's controlled shutdown needs an active controller, that is a majority of the
    voters. Stopped one after another, the last one never gets its answer; stopped together,
    the ones that finish first can take the quorum with them. So all are asked at once, and a
    broker still shutting down once a majority has gone is waited for only
    ``QUORUM_LOST_GRACE_S`` more, then killed (its log is recovered on the next start, and every
    broker that left in order holds a copy of each partition).
    """
    pids = {proc.name: proc.pid() for proc in running}
    for pid in pids.values():
        if pid is not None:
            terminate_group(pid)
    majority = voters // 2 + 1
    deadline = time.monotonic() + STOP_TIMEOUT_S
    quorum_lost_at: float | None = None
    while time.monotonic() < deadline:
        alive = [proc for proc in running if proc.pid() is not None]
        if not alive:
            break
        if quorum_lost_at is None and len(alive) < majority:
            quorum_lost_at = time.monotonic()
        if quorum_lost_at is not None and time.monotonic() - quorum_lost_at > QUORUM_LOST_GRACE_S:
            break
        time.sleep(0.2)
    for proc in running:
        proc.stop(timeout=1.0)  # SIGKILL for any left; pid files removed
    first = pids.get(NAME)
    return first if first is not None else next((p for p in pids.values() if p), None)


def status(settings: Settings) -> PartStatus:
    """The cluster as one part: the first broker's pid, every broker's address, healthy when
    every broker runs and answers."""
    cluster = brokers(settings)
    running = pids(settings)
    healthy = len(running) == len(cluster) and is_ready(settings, timeout=3.0)
    pid = broker_process(settings, cluster[0]).pid()
    address = ",".join(b.address for b in cluster)
    return PartStatus.of(NAME, pid=pid, address=address, healthy=healthy)
