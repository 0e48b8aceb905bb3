"""Producing with a Kafka client that is not ours: Kafka's own ``ConsoleProducer``.

What reaches the topics then is exactly what a third-party producer would write (no pydantic,
no kafka-python), including bytes our own clients would never send. The tool lives in the
``org.apache.kafka:kafka-tools`` jar, which the broker does not need; it is fetched once with
the machine's Maven next to the broker jars and run with them on the class path.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from services.core.config import Settings
from services.core.kafka_connection import java_client_properties
from truyvet.stack import kafka
from truyvet.stack.layout import write_private

MAIN_CLASS = "org.apache.kafka.tools.ConsoleProducer"
KEY_SEPARATOR = "\t"


def tools_jar(settings: Settings) -> Path:
    """``kafka-tools-<version>.jar`` of the broker's version, resolved once into the cache."""
    version = kafka.kafka_version()
    home = kafka.libs_dir(settings).parent / "tools"
    jar = home / f"kafka-tools-{version}.jar"
    if jar.exists():
        return jar
    mvn = shutil.which("mvn")
    assert mvn, "Maven (mvn) is needed to fetch kafka-tools, as for the broker jars"
    home.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="tools-", dir=home))
    try:
        done = subprocess.run(
            [mvn, "-q", "-B", "dependency:copy",
             f"-Dartifact=org.apache.kafka:kafka-tools:{version}",
             f"-DoutputDirectory={staging}"],
            capture_output=True, text=True, timeout=600, check=False,
        )
        fetched = staging / jar.name
        assert done.returncode == 0 and fetched.exists(), done.stdout + done.stderr
        fetched.replace(jar)  # atomic: a concurrent session never sees half a jar
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return jar


def console_produce(settings: Settings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Produce ``(key, value)`` lines with ``kafka-console-producer``, in order, acks=all.

    Keys and values are single lines of bytes (the tool reads one record per line).
    """
    for key, value in records:
        assert b"\n" not in key + value and KEY_SEPARATOR.encode() not in key
    libs = kafka.libs_dir(settings)
    stdin = b"".join(key + KEY_SEPARATOR.encode() + value + b"\n" for key, value in records)
    # The tool logs in like any client: its SCRAM user and password, in a file only we can read.
    config = Path(settings.state_dir) / "console-producer.properties"
    properties = java_client_properties(settings)
    write_private(config, "".join(f"{key}={value}\n" for key, value in properties.items()))
    done = subprocess.run(
        [kafka._java(), "-Xmx256m", "-cp", f"{libs}/*:{tools_jar(settings)}", MAIN_CLASS,
         "--bootstrap-server", settings.kafka_bootstrap, "--topic", topic, "--sync",
         "--producer.config", str(config),
         "--property", "parse.key=true", "--property", f"key.separator={KEY_SEPARATOR}",
         "--producer-property", "acks=all",
         # The tool lingers 1 s by default (--timeout), which --sync pays on every record.
         "--producer-property", "linger.ms=0",
         "--producer-property", f"max.request.size={kafka.MAX_MESSAGE_BYTES}",
         "--producer-property", "compression.type=none"],
        input=stdin, capture_output=True, timeout=120, check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr).decode(errors="replace")[-2000:]
