"""The HTTP conventions both services share (services/core/http/conventions.py), on the apps as
built, nothing started: their OpenAPI documents pass Redocly's lint and say what is sent, the
docs pages need no CDN, /version, problem+json refusals, unknown query parameters refused."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.alerts.api.app import create_app as alerts_app
from services.core.config import IngestSettings, Settings
from services.ingest.app import create_app as ingest_app
from tests.support.spec_tools import redocly_lint


@pytest.fixture(scope="module")
def apps() -> dict[str, FastAPI]:
    return {"ingest": ingest_app(IngestSettings()), "alerts": alerts_app(Settings())}


@pytest.fixture(scope="module")
def documents(apps: dict[str, FastAPI]) -> dict[str, dict[str, Any]]:
    return {name: app.openapi() for name, app in apps.items()}


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield f"{method.upper()} {path}", operation


def test_both_documents_pass_redocly_lint(documents: dict[str, dict[str, Any]],
                                          tmp_path: Path) -> None:
    paths = []
    for name, document in documents.items():
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(document))
    done = redocly_lint(paths)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert not re.search(r"\b(error|warning)\b +[a-z0-9-]+ ", report), report


def test_every_protected_operation_needs_the_bearer_scheme(
    documents: dict[str, dict[str, Any]],
) -> None:
    for document in documents.values():
        assert document["components"]["securitySchemes"]["bearer"] == {
            "type": "http", "scheme": "bearer",
            "description": document["components"]["securitySchemes"]["bearer"]["description"]}
        for name, operation in _operations(document):
            expected = [{"bearer": []}] if "401" in operation["responses"] else []
            assert operation["security"] == expected, name
    protected = {name for name, op in _operations(documents["ingest"]) if op["security"]}
    assert {"POST /v1/scans", "POST /v1/cases", "POST /v1/venues"} <= protected
    assert "GET /healthz" not in protected


def test_refusals_are_documented_as_problem_json_and_schema_names_are_unique(
    documents: dict[str, dict[str, Any]],
) -> None:
    for document in documents.values():
        names = document["components"]["schemas"]
        assert not [n for n in names if "__" in n], "two models share a name"
        assert "HTTPValidationError" not in names
        for name, operation in _operations(document):
            assert "422" in operation["responses"], name  # unknown query parameters, anywhere
            for status, response in operation["responses"].items():
                if status[0] in "45":
                    content = response["content"]
                    assert content["application/problem+json"]["schema"] == {
                        "$ref": "#/components/schemas/Problem"}, (name, status)
    scans_422 = documents["ingest"]["paths"]["/v1/scans"]["post"]["responses"]["422"]["content"]
    assert scans_422["application/json"]["schema"] == {"$ref": "#/components/schemas/ScanReceipt"}


@pytest.mark.parametrize("service", ["ingest", "alerts"])
def test_docs_pages_load_their_assets_from_the_service_itself(
    apps: dict[str, FastAPI], service: str,
) -> None:
    http = TestClient(apps[service])  # no lifespan: these pages need no Kafka
    for page in ("/docs", "/redoc"):
        html = http.get(page).text
        external = re.findall(r"""(?:src|href)=["'](https?:[^"']+)""", html)
        assert external == [], (page, external)
        for asset in re.findall(r"""(?:src|href)=["'](/docs/assets/[^"']+)""", html):
            answer = http.get(asset)
            assert answer.status_code == 200 and len(answer.content) > 1000, asset
    assert "swagger-ui-bundle.js" in http.get("/docs").text
    assert "redoc.standalone.js" in http.get("/redoc").text


@pytest.mark.parametrize("service", ["ingest", "alerts"])
def test_version_names_the_service_and_release(apps: dict[str, FastAPI], service: str) -> None:
    answer = TestClient(apps[service]).get("/version")
    assert answer.status_code == 200
    body = answer.json()
    assert body["service"] == service and body["api_version"] == "1.0.0"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", body["version"])


@pytest.mark.parametrize("service", ["ingest", "alerts"])
def test_an_unknown_query_parameter_is_a_problem_not_ignored(
    apps: dict[str, FastAPI], service: str,
) -> None:
    answer = TestClient(apps[service]).get("/version", params={"page": "2"})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json() == {
        "type": "urn:truyvet:problem:unknown_parameter", "title": "Unprocessable Entity",
        "status": 422, "error": "unknown_parameter",
        "detail": "unknown query parameter(s) page; this endpoint takes: none"}


def test_an_unknown_path_is_a_problem_too(apps: dict[str, FastAPI]) -> None:
    answer = TestClient(apps["ingest"]).get("/v1/nothing-here")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "urn:truyvet:problem:not_found"
