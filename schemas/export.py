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


def json_schemas() -> dict[str, dict[str, Any]]:
    return {model.__name__: model.model_json_schema() for model in MODELS}


def asyncapi_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic, (key, models, description) in TOPICS.items():
        refs = {}
        for model in models:
            messages[model.__name__] = {
                "name": model.__name__,
                "contentType": "application/json",
                "payload": {"$ref": f"json/{model.__name__}.json"},
            }
            refs[model.__name__] = {"$ref": f"#/components/messages/{model.__name__}"}
        channels[topic] = {
            "address": topic,
            "description": f"{description} Kafka key: {key}.",
            "messages": refs,
        }
        operations[f"publish-{topic}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic}"},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "truyvet topics", "version": "1.0.0"},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
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
