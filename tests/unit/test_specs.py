"""The published specs: the AsyncAPI document passes the official parser, and every JSON Schema
names its dialect and itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from schemas import export
from tests.support.spec_tools import parse_asyncapi


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The parser's reports on the published document and on a broken copy, in one node run."""
    folder: Path = tmp_path_factory.mktemp("asyncapi")
    document = json.loads(export.ASYNCAPI.read_text())
    document["channels"]["scans"]["bindings"]["kafka"]["partitions"] = "eight"
    broken = folder / "asyncapi.json"
    broken.write_text(json.dumps(document))
    (folder / "json").symlink_to(export.JSON_DIR)
    published, refused = parse_asyncapi(export.ASYNCAPI, broken)
    return {"published": published, "broken": refused}


def test_the_asyncapi_document_passes_the_official_parser_with_both_directions(
    reports: dict[str, dict[str, Any]],
) -> None:
    report = reports["published"]
    assert report["errors"] == [], report
    assert report["warnings"] == [], report
    topics = len(export.TOPICS)
    assert (report["channels"], report["sendOperations"], report["receiveOperations"]) == (
        topics, topics, topics)
    assert report["servers"] == ["local", "production"]


def test_every_channel_has_kafka_bindings_with_its_partitions_and_key() -> None:
    document = json.loads(export.ASYNCAPI.read_text())
    for topic, channel in document["channels"].items():
        kafka = channel["bindings"]["kafka"]
        assert kafka["topic"] == topic and kafka["partitions"] >= 1
    assert document["channels"]["scans"]["bindings"]["kafka"]["partitions"] == 8
    assert document["channels"]["registry"]["bindings"]["kafka"]["topicConfiguration"] == {
        "cleanup.policy": ["compact"]}
    for message in document["components"]["messages"].values():
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
    groups = document["operations"]["receive-scans"]["bindings"]["kafka"]["groupId"]["enum"]
    assert groups == ["truyvet-tracer"]


def test_a_broken_document_is_refused_by_the_parser(reports: dict[str, dict[str, Any]]) -> None:
    report = reports["broken"]  # so the check above can fail
    assert any(e["path"] == "channels/scans/bindings/kafka/partitions" for e in report["errors"])


def test_every_json_schema_names_its_dialect_and_a_unique_id() -> None:
    ids = set()
    for path in sorted(export.JSON_DIR.glob("*.json")):
        schema = json.loads(path.read_text())
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", path
        assert schema["$id"] == f"urn:truyvet:schema:{path.stem}"
        ids.add(schema["$id"])
    assert len(ids) == len(export.MODELS)
