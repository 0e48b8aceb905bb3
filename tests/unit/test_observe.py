"""Readiness, request ids and request metrics of the HTTP services, on a bare app."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from services.core.http.health import router
from services.core.http.observe import install_observability
from services.core.logs import JsonLines

log = logging.getLogger("tests.observe")


def app_with(checks: dict[str, object]) -> FastAPI:
    app = FastAPI()
    app.include_router(router)

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        log.warning("looked at a thing")
        return {"id": thing_id}

    install_observability(app, "unit")
    app.state.readiness = checks
    return app


async def ok() -> None:
    return None


async def down() -> None:
    raise ConnectionError("nobody there")


def test_ready_only_when_every_check_passes() -> None:
    with TestClient(app_with({"kafka": ok, "clickhouse": ok})) as http:
        assert http.get("/readyz").json() == {"status": "ready",
                                              "checks": {"kafka": "ok", "clickhouse": "ok"}}
    with TestClient(app_with({"kafka": ok, "clickhouse": down})) as http:
        answer = http.get("/readyz")
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert answer.json()["checks"] == {"kafka": "ok", "clickhouse": "failed: ConnectionError"}
    with TestClient(app_with({})) as http:  # still starting: no checks set yet
        assert http.get("/readyz").status_code == 503
        assert http.get("/healthz").status_code == 200


def test_log_lines_of_a_request_carry_its_id_and_metrics_its_route_template() -> None:
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(JsonLines("unit").format(record))  # type: ignore[method-assign]
    log.addHandler(handler)
    before = REGISTRY.get_sample_value("truyvet_http_requests_total", {
        "service": "unit", "method": "GET", "route": "/things/{thing_id}", "status": "200"}) or 0
    try:
        with TestClient(app_with({})) as http:
            answer = http.get("/things/t-1", headers={"X-Request-ID": "req-42"})
            fresh = http.get("/things/t-2")
    finally:
        log.removeHandler(handler)
    assert answer.headers["x-request-id"] == "req-42"
    assert len(fresh.headers["x-request-id"]) == 32
    assert [json.loads(line)["request_id"] for line in lines] == [
        "req-42", fresh.headers["x-request-id"]]
    after = REGISTRY.get_sample_value("truyvet_http_requests_total", {
        "service": "unit", "method": "GET", "route": "/things/{thing_id}", "status": "200"})
    assert after == before + 2
    with TestClient(app_with({})) as http:
        text = http.get("/metrics").text
    assert 'route="/things/{thing_id}"' in text and "t-1" not in text
