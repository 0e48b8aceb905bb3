"""What an operator watches: every service's Prometheus metrics, readiness and JSON logs.

One small pipeline for the module (ingest, tracer, alerts worker, alerts API on a topic prefix
and database of their own, logs as JSON, the workers' metrics on ports of their own): a venue,
two people who meet there and a case, pushed through the public HTTP API; then a real
Prometheus (Debian's package) scraping all of it every second.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from schemas.registry import Role
from services.core.config import Settings
from tests.support.processes import ServiceProcess, free_port, running_http_service, wait_for
from tests.support.stack import grant, isolated_settings
from truyvet.stack import prometheus

REPO = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
SCANS = 4  # two visits of 40 minutes that overlap by 30


@dataclass
class Observed:
    settings: Settings
    logs: dict[str, Path]
    metrics: dict[str, str]  # service -> its /metrics URL
    case_id: str


def scrape(url: str) -> Samples:
    text = httpx.get(url, timeout=5).text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


@pytest.fixture(scope="module")
def observed(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    state_dir = tmp_path_factory.mktemp("observed")
    settings = isolated_settings(stack, state_dir, log_format="json",
                                 tracer_metrics_port=free_port(),
                                 alerts_worker_metrics_port=free_port())
    tokens = {role: grant(settings, role) for role in (Role.ADMIN, Role.AUTHORITY)}
    ingest = f"http://{settings.ingest_host}:{settings.ingest_port}"
    alerts = f"http://{settings.alerts_host}:{settings.alerts_port}"
    logs = {name: state_dir / f"{name}.log"
            for name in ("ingest", "alerts", "tracer", "alerts-worker")}
    metrics = {
        "ingest": f"{ingest}/metrics",
        "alerts": f"{alerts}/metrics",
        "tracer": f"http://{settings.metrics_host}:{settings.tracer_metrics_port}/metrics",
        "alerts-worker":
            f"http://{settings.metrics_host}:{settings.alerts_worker_metrics_port}/metrics",
    }
    with ExitStack() as running:
        # The workers first: they start while the HTTP services are waited for.
        for module, name in (("services.tracer", "tracer"),
                             ("services.alerts.worker", "alerts-worker")):
            running.callback(ServiceProcess(module, settings, logs[name]).stop)
        running.enter_context(running_http_service("services.ingest", settings, ingest,
                                                   logs["ingest"]))
        running.enter_context(running_http_service("services.alerts", settings, alerts,
                                                   logs["alerts"]))
        admin = {"Authorization": f"Bearer {tokens[Role.ADMIN]}"}
        venue = httpx.post(f"{ingest}/v1/venues", headers=admin, timeout=30,
                           json={"venue_id": "obs-cafe", "name": "Cafe", "kind": "restaurant"})
        assert venue.status_code == 201, venue.text
        at = int(time.time()) - 3 * 3600

        def iso(seconds: int) -> str:
            return datetime.fromtimestamp(seconds, UTC).isoformat()

        scans = [{"event_id": f"obs-{i}", "venue_id": "obs-cafe", "person_id": person,
                  "direction": direction, "scanned_at": iso(at + offset)}
                 for i, (person, direction, offset) in enumerate([
                     ("0912000001", "in", 0), ("0912000002", "in", 600),
                     ("0912000001", "out", 2400), ("0912000002", "out", 3000)])]
        assert len(scans) == SCANS
        pushed = httpx.post(f"{ingest}/v1/scans", json=scans, timeout=30,
                            headers={"Authorization": f"Bearer {venue.json()['api_key']}",
                                     "X-Request-ID": "gate-obs-1"})
        assert pushed.status_code == 202, pushed.text
        assert pushed.headers["x-request-id"] == "gate-obs-1"
        case = httpx.post(f"{ingest}/v1/cases", timeout=30,
                          headers={"Authorization": f"Bearer {tokens[Role.AUTHORITY]}"},
                          json={"case_id": "obs-case", "person_id": "0912000001",
                                "onset_at": iso(at), "reported_at": iso(at + 7200)})
        assert case.status_code == 202, case.text
        yield Observed(settings, logs, metrics, "obs-case")


def wait_for_figures(observed: Observed) -> dict[str, Samples]:
    """Every service's samples once the pipeline has done its work (the F1 alert sent)."""

    def done() -> dict[str, Samples] | None:
        samples = {name: scrape(url) for name, url in observed.metrics.items()}
        worker = samples["alerts-worker"]
        finished = (value(samples["tracer"], "truyvet_tracer_scans_processed_total") == SCANS
                    and value(worker, "truyvet_case_alert_latency_seconds_count") == 1
                    and value(worker, "truyvet_alerts_published_total", op="upsert") == 1)
        return samples if finished else None

    return wait_for(done, 90, "the scans traced and the case's alert published", every_s=0.5)


def test_every_service_serves_the_pipeline_figures(observed: Observed) -> None:
    samples = wait_for_figures(observed)
    ingest, tracer = samples["ingest"], samples["tracer"]
    assert value(ingest, "truyvet_ingest_scans_accepted_total") == SCANS
    # By route template and status, with latencies.
    assert value(ingest, "truyvet_http_requests_total", service="ingest", route="/v1/scans",
                 method="POST", status="202") == 1
    assert value(ingest, "truyvet_http_request_duration_seconds_count", service="ingest",
                 route="/v1/scans") == 1
    assert value(tracer, "truyvet_tracer_visit_changes_total") >= 2
    assert value(tracer, "truyvet_tracer_contact_changes_total") >= 1
    assert value(tracer, "truyvet_clickhouse_insert_duration_seconds_count", table="scans") >= 1
    assert value(tracer, "truyvet_clickhouse_insert_errors_total") == 0
    assert value(tracer, "truyvet_dead_letters_total") == 0
    worker = samples["alerts-worker"]
    assert value(worker, "truyvet_alerts_case_events_total", kind="reported") == 1
    assert value(worker, "truyvet_clickhouse_insert_duration_seconds_count", table="alerts") >= 1
    # The heartbeat timer (every 5 s) sets the gauges.
    group = f"{observed.settings.topic_prefix}truyvet-tracer"

    def settled() -> bool:
        now = scrape(observed.metrics["tracer"])
        lags = [v for (n, labels), v in now.items()
                if n == "truyvet_consumer_lag_messages" and ("group", group) in labels]
        # Set by one heartbeat after the scans were traced: one lag series per partition.
        return (value(now, "truyvet_tracer_held_scans") == SCANS
                and lags == [0.0] * observed.settings.scans_partitions)

    wait_for(settled, 30, "the scans held and every partition's consumer lag at 0", every_s=0.5)
    wait_for(lambda: value(scrape(observed.metrics["alerts-worker"]),
                           "truyvet_alerts_open_cases") == 1, 30, "one open case", every_s=0.5)
    assert value(samples["alerts"], "truyvet_sse_clients") == 0


def test_an_unknown_path_is_one_series_not_one_per_path(observed: Observed) -> None:
    base = observed.metrics["alerts"].removesuffix("/metrics")
    for path in ("/no/such/a", "/no/such/b"):
        assert httpx.get(base + path, timeout=5).status_code == 404
    samples = scrape(observed.metrics["alerts"])
    assert value(samples, "truyvet_http_requests_total", service="alerts", route="unmatched",
                 status="404") == 2
    assert not [labels for (n, labels) in samples if ("route", "/no/such/a") in labels]


def test_both_http_services_are_ready(observed: Observed) -> None:
    for name, checks in (("ingest", {"kafka", "registry"}),
                         ("alerts", {"kafka", "registry", "clickhouse"})):
        answer = httpx.get(observed.metrics[name].removesuffix("/metrics") + "/readyz", timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"status": "ready", "checks": dict.fromkeys(checks, "ok")}


def test_logs_are_one_json_object_a_line(observed: Observed) -> None:
    wait_for_figures(observed)
    for name, path in observed.logs.items():
        entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        assert entries, name
        assert {e["service"] for e in entries} == {name}
        assert {"time", "level", "logger", "message"} <= set(entries[0])


def test_prometheus_scrapes_every_part_and_answers_with_the_pipeline_figures(
        observed: Observed, tmp_path: Path) -> None:
    wait_for_figures(observed)
    settings = observed.settings.model_copy(
        update={"state_dir": tmp_path, "prometheus_port": free_port()})
    prometheus.start(settings, scrape_interval="1s")
    base = prometheus.address(settings)
    try:
        def targets() -> dict[str, str]:
            answer = httpx.get(f"{base}/api/v1/targets", timeout=5).json()
            return {t["labels"]["job"]: t["health"] for t in answer["data"]["activeTargets"]}

        wanted = {"ingest", "alerts", "tracer", "alerts-worker", "prometheus"}
        wait_for(lambda: targets() == dict.fromkeys(wanted, "up"), 30,
                 "Prometheus scraping every part", every_s=0.5)

        def query(promql: str) -> float | None:
            answer = httpx.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5)
            result = answer.json()["data"]["result"]
            return float(result[0]["value"][1]) if result else None

        figures = {
            "scans accepted": "sum(truyvet_ingest_scans_accepted_total)",
            "scans traced": "sum(truyvet_tracer_scans_processed_total)",
            "alerts published": 'sum(truyvet_alerts_published_total{op="upsert"})',
            "cases": 'sum(truyvet_alerts_case_events_total{kind="reported"})',
        }
        def answered() -> dict[str, float | None] | None:
            got = {k: query(q) for k, q in figures.items()}
            return got if None not in got.values() else None

        got = wait_for(answered, 30, "the figures", every_s=0.5)
        assert got == {"scans accepted": SCANS, "scans traced": SCANS, "alerts published": 1,
                       "cases": 1}
        p99 = query("histogram_quantile(0.99, sum by (le) "
                    "(truyvet_case_alert_latency_seconds_bucket))")
        assert p99 is not None and 0 < p99 <= 60
        # Every expression of the pipeline-health dashboard runs on this Prometheus.
        board = json.loads((REPO / "deploy/grafana/dashboards/pipeline-health.json").read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                expr = target["expr"].replace("$__rate_interval", "1m")
                answer = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=5)
                assert answer.json()["status"] == "success", (panel["title"], answer.text)
    finally:
        prometheus.stop(settings)
