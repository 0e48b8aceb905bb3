"""Export the wire models as JSON Schema files and an AsyncAPI document.

``python -m schemas.export`` rewrites ``schemas/json/*.json`` and ``schemas/asyncapi.json``;
``--check`` exits 1 when the committed files differ from the models (CI runs it through a test).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas.alerts import Alert
from schemas.audit import AuditEntry
from schemas.cases import CaseIn, CaseReported, CaseWithdrawn
from schemas.clusters import ClusterMessage
from schemas.derived import ContactBatch, VisitChange
from schemas.directory import DirectoryEntry
from schemas.errors import DeadLetter, Problem
from schemas.exposure_events import ExposureDeclared, ExposureEventIn, ExposureWithdrawn
from schemas.registry import TokenRecord, VenueRecord
from schemas.scans import ScanBatch, ScanIn, ScanReceipt
from schemas.venues import VenueCreate, VenueCreated, VenuePublic

HERE = Path(__file__).parent
JSON_DIR = HERE / "json"
ASYNCAPI = HERE / "asyncapi.json"

MODELS: tuple[type[BaseModel], ...] = (
    ScanIn,
    ScanBatch,
    ScanReceipt,
    CaseIn,
    CaseReported,
    CaseWithdrawn,
    ExposureEventIn,
    ExposureDeclared,
    ExposureWithdrawn,
    VenueCreate,
    VenuePublic,
    VenueCreated,
    VenueRecord,
    TokenRecord,
    VisitChange,
    ContactBatch,
    Alert,
    ClusterMessage,
    AuditEntry,
    DirectoryEntry,
    DeadLetter,
    Problem,
)

# topic -> (key, message models, description)
TOPICS: dict[str, tuple[str, tuple[type[BaseModel], ...], str]] = {
    "scans": ("venue_id", (ScanBatch,), "Pseudonymised scans, batched per venue."),
    "cases": ("case_id | event_id", (CaseReported, CaseWithdrawn, ExposureDeclared,
                                     ExposureWithdrawn),
              "Reported and withdrawn cases (F0), declared and withdrawn venue exposure events."),
    "contacts": (
        "venue_id",
        (ContactBatch,),
        "Contact edges derived by the tracer, with retractions.",
    ),
    "alerts": ("person_id", (Alert,), "F1/F2 alerts and their retractions (op=retract)."),
    "clusters": ("venue_id", (ClusterMessage,), "Venues where several open cases were present "
                 "within days (rule 12), updated as they grow, shrink or dissolve."),
    "audit": ("case_id", (AuditEntry,), "Every read of per-person data: who, what, when, how "
              "many people."),
    "directory": ("pseudonym", (DirectoryEntry,), "Compacted, bounded by the retention horizon: "
                  "each pseudonym's identifier sealed to the health authority's public key."),
    "dead-letter": (
        "source key",
        (DeadLetter,),
        "Messages that could not be decoded, with the reason.",
    ),
    "registry": (
        "venue:<id> | token:<sha256>",
        (VenueRecord, TokenRecord),
        "Compacted: venues and hashed tokens.",
    ),
}


JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID_BASE = "urn:truyvet:schema:"
"""Each file's ``$id``: a name, not an address, so no resolver goes to fetch it."""

# Who writes and who reads each topic: (sent by, [(read by, consumer group or None)]).
# A group named here is the one the service joins (with TRUYVET_TOPIC_PREFIX before it); None
# is a reader assigned every partition, with no group and no committed offsets.
FLOWS: dict[str, tuple[str, tuple[tuple[str, str | None], ...]]] = {
    "scans": ("services/ingest, for each accepted scan; venues' own producers",
              (("services/tracer, one member per worker", "truyvet-tracer"),)),
    "cases": ("services/ingest (POST /v1/cases, DELETE /v1/cases/{id})",
              (("services/alerts worker", "truyvet-alerts"),
               ("services/ingest, to know the cases ever reported", None))),
    "contacts": ("services/tracer",
                 (("services/alerts worker, every partition", None),)),
    "alerts": ("services/alerts worker",
               (("services/alerts API, the SSE stream", None),
                ("notification systems, in a group of their own", None))),
    "audit": ("services/alerts API, before it answers a per-person read",
              (("archives and auditors, in a group of their own", None),)),
    "dead-letter": ("services/tracer and services/alerts worker",
                    (("operators", None),)),
    "directory": ("services/ingest, the first time a day it sees a person (sealed identifier)",
                  (("services/alerts worker, copying it to ClickHouse", "truyvet-directory"),)),
    "clusters": ("services/alerts worker (the one owning cases partition 0)",
                 (("services/alerts worker, copying it to ClickHouse", None),
                  ("health authorities' tools, in a group of their own", None))),
    "registry": ("services/ingest (POST /v1/venues, tokens) and the `truyvet` CLI",
                 (("every service, from the beginning", None),)),
}
KAFKA_BINDING_VERSION = "0.5.0"


def json_schemas() -> dict[str, dict[str, Any]]:
    """Each model's JSON Schema (draft 2020-12, which pydantic writes), named by ``$id``."""
    schemas = {}
    for model in MODELS:
        schema = model.model_json_schema()
        schemas[model.__name__] = {"$schema": JSON_SCHEMA_DIALECT,
                                   "$id": f"{SCHEMA_ID_BASE}{model.__name__}", **schema}
    return schemas


def _channel_binding(topic: str) -> dict[str, Any]:
    # Imported here: the models above need nothing of the stack; only this generator does.
    from services.core.config import Settings
    from truyvet.stack.topics import partitions_of, topic_configs

    defaults = Settings()
    configs = topic_configs(topic, defaults)
    # "compact,delete" is Kafka's spelling of both policies; the binding lists them.
    topic_configuration: dict[str, Any] = {"cleanup.policy": configs["cleanup.policy"].split(",")}
    for name in ("retention.ms", "retention.bytes"):
        if name in configs:
            topic_configuration[name] = int(configs[name])
    return {"kafka": {
        "topic": topic,
        "partitions": partitions_of(topic, defaults),
        "replicas": 1,
        "topicConfiguration": topic_configuration,
        "bindingVersion": KAFKA_BINDING_VERSION,
    }}


def _servers() -> dict[str, Any]:
    return {
        "local": {
            "host": "127.0.0.1:9092",
            "protocol": "kafka",
            "description": "The local stack of `truyvet up`: SASL_PLAINTEXT, SCRAM-SHA-512, "
            "user `truyvet`, password in .truyvet/secrets.env.",
            "security": [{"$ref": "#/components/securitySchemes/scram"}],
        },
        "production": {
            "host": "{bootstrap}",
            "protocol": "kafka-secure",
            "description": "A deployment: SASL_SSL with SCRAM, or mutual TLS "
            "(TRUYVET_KAFKA_SECURITY_PROTOCOL).",
            "variables": {"bootstrap": {
                "description": "The brokers' bootstrap address (TRUYVET_KAFKA_BOOTSTRAP).",
                "default": "kafka:9093",
            }},
            "security": [{"$ref": "#/components/securitySchemes/scram"},
                         {"$ref": "#/components/securitySchemes/mutualTls"}],
        },
    }


def asyncapi_document() -> dict[str, Any]:
    """Every topic as a channel with its Kafka binding (partitions, retention), its messages
    with their key, and an operation for each direction: who sends, who receives."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic, (key, models, description) in TOPICS.items():
        refs = {}
        for model in models:
            messages[model.__name__] = {
                "name": model.__name__,
                "title": model.__name__,
                "summary": (model.__doc__ or model.__name__).strip().splitlines()[0],
                "contentType": "application/json",
                "payload": {"$ref": f"json/{model.__name__}.json"},
                "bindings": {"kafka": {
                    "key": {"type": "string", "description": f"{key}: one key's messages stay "
                            "in one partition, in order."},
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }},
            }
            refs[model.__name__] = {"$ref": f"#/components/messages/{model.__name__}"}
        channels[topic] = {
            "address": topic,
            "title": topic,
            "description": f"{description} Kafka key: {key}.",
            "messages": refs,
            "bindings": _channel_binding(topic),
        }
        channel_ref = {"$ref": f"#/channels/{topic}"}
        message_refs = [{"$ref": f"#/channels/{topic}/messages/{m.__name__}"} for m in models]
        sender, receivers = FLOWS[topic]
        operations[f"send-{topic}"] = {
            "action": "send",
            "channel": channel_ref,
            "summary": f"Sent by {sender}.",
            "messages": message_refs,
        }
        groups = sorted({group for _, group in receivers if group is not None})
        receive: dict[str, Any] = {
            "action": "receive",
            "channel": channel_ref,
            "summary": "Received by " + "; ".join(
                f"{who}" + (f" (group {group})" if group else "") for who, group in receivers)
            + ".",
            "messages": message_refs,
        }
        if groups:
            receive["bindings"] = {"kafka": {
                "groupId": {"type": "string", "enum": groups},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }}
        operations[f"receive-{topic}"] = receive
    return {
        "asyncapi": "3.1.0",
        "info": {
            "title": "truyvet topics",
            "version": "1.0.0",
            "description": "The Kafka topics of truyvet: values are JSON of the models in "
            "schemas/json (one file each). Topic names take TRUYVET_TOPIC_PREFIX before them.",
        },
        "defaultContentType": "application/json",
        "servers": _servers(),
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "securitySchemes": {
                "scram": {"type": "scramSha512",
                          "description": "SASL SCRAM-SHA-512 (or -256), TRUYVET_KAFKA_USERNAME "
                          "and TRUYVET_KAFKA_PASSWORD."},
                "mutualTls": {"type": "X509",
                              "description": "Mutual TLS: TRUYVET_KAFKA_CERT_FILE and "
                              "TRUYVET_KAFKA_KEY_FILE."},
            },
        },
    }


def rendered() -> dict[Path, str]:
    files = {
        JSON_DIR / f"{name}.json": json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for name, schema in json_schemas().items()
    }
    files[ASYNCAPI] = json.dumps(asyncapi_document(), indent=2, sort_keys=True) + "\n"
    return files


def stale_files() -> list[Path]:
    """Files whose committed content differs from what the models give (or that are missing)."""
    expected = rendered()
    stale = [p for p, text in expected.items() if not p.exists() or p.read_text() != text]
    stale += [p for p in JSON_DIR.glob("*.json") if p not in expected]
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the files are stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            sys.stderr.write(f"stale: {path}\n")
        return 1 if stale else 0
    JSON_DIR.mkdir(exist_ok=True)
    for stale_path in JSON_DIR.glob("*.json"):
        stale_path.unlink()
    for path, text in rendered().items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
