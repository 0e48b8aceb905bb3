"""The Grafana provisioning of ``deploy/grafana/``: every SQL panel query runs on ClickHouse 18.16
(the test server) and on current ClickHouse (chdb) with the same answer, and every PromQL
expression passes ``promtool``.

There is no Grafana on these machines, so the ClickHouse plugin's macros are expanded here as
the plugin (v4) expands them, over the last 24 hours. Both stores get the same few rows first:
scans at two venues, a reported case with a current F1 and F2 (and a retracted F1), a withdrawn
case.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from services.core.config import Settings
from tests.integration.conftest import rows
from truyvet.stack import prometheus

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
DAY_S = 86_400


def dashboard(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((GRAFANA / "dashboards" / f"{name}.json").read_text())
    return loaded


def targets(name: str) -> list[tuple[str, dict[str, Any]]]:
    return [(panel["title"], target) for panel in dashboard(name)["panels"]
            for target in panel["targets"]]


def expand_macros(sql: str, start: int, end: int) -> str:
    """The plugin's ``$__timeFilter``, ``$__dateFilter``, ``$__fromTime`` and ``$__toTime``."""
    def day(seconds: int) -> str:
        return datetime.fromtimestamp(seconds, UTC).date().isoformat()

    sql = re.sub(r"\$__timeFilter\((\w+)\)",
                 lambda m: f"{m[1]} >= toDateTime({start}) AND {m[1]} <= toDateTime({end})", sql)
    sql = re.sub(r"\$__dateFilter\((\w+)\)",
                 lambda m: f"{m[1]} >= toDate('{day(start)}') AND {m[1]} <= toDate('{day(end)}')",
                 sql)
    sql = sql.replace("$__fromTime", f"toDateTime({start})").replace("$__toTime",
                                                                      f"toDateTime({end})")
    assert "$" not in sql, f"a macro or variable the test does not know: {sql}"
    return sql


def seed_rows(now: int) -> list[str]:
    hour = now - now % 3600 - 3600

    def at(seconds: int) -> str:
        return f"toDateTime({seconds}, 'UTC')"

    day = f"toDate({at(hour)})"
    scans = ", ".join(
        f"({day}, '{venue}', 'e{i}', 'p{i % 3}', 'in', {at(hour + 60 * i)}, '', {at(hour)}, 1)"
        for i, venue in enumerate(["cafe", "cafe", "cafe", "market"]))
    alert = ("('c1', '{id}', '{person}', {degree}, " + at(hour) + ", '', ['cafe'], '[]', "
             + at(hour) + ", {deleted}, {version})")
    alerts = ", ".join(alert.format(id=i, person=p, degree=d, deleted=x, version=v)
                       for i, p, d, x, v in [("a1", "p1", 1, 0, 1), ("a2", "p2", 2, 0, 1),
                                             ("a3", "p3", 1, 0, 1), ("a3", "p3", 1, 1, 2)])
    return [
        "INSERT INTO scans (day, venue_id, event_id, person_id, direction, scanned_at, gate,"
        f" ingested_at, version) VALUES {scans}",
        "INSERT INTO venues (venue_id, name, kind, default_dwell_s, max_dwell_s, min_overlap_s,"
        f" created_at, version) VALUES ('cafe', 'Cafe Lan', 'restaurant', 3600, 43200, 900,"
        f" {at(hour)}, 1)",
        "INSERT INTO cases (case_id, person_id, status, onset_at, sampled_at, reported_at,"
        f" isolated_at, withdrawn_at, version) VALUES ('c1', 'p0', 'reported', {at(hour)}, NULL,"
        f" {at(hour + 600)}, NULL, NULL, 1), ('c2', 'p5', 'withdrawn', {at(hour)}, NULL,"
        f" {at(hour + 600)}, NULL, {at(hour + 900)}, 2)",
        "INSERT INTO alerts (case_id, alert_id, person_id, degree, exposed_at, via_person_id,"
        f" venue_ids, exposures, created_at, deleted, version) VALUES {alerts}",
    ]


def on_1816(settings: Settings, sql: str) -> list[list[str]]:
    """``sql`` on the test server over HTTP (answers in TSV by default)."""
    answer = httpx.post(f"http://{settings.clickhouse_host}:{settings.clickhouse_http_port}/",
                        params={"database": settings.clickhouse_database}, content=sql,
                        auth=(settings.clickhouse_user,
                              settings.clickhouse_password.get_secret_value()),
                        timeout=30)
    assert answer.status_code == 200, f"ClickHouse 18.16 refused:\n{sql}\n{answer.text}"
    return [line.split("\t") for line in answer.text.strip().splitlines()]


def test_every_sql_panel_gives_the_same_answer_on_18_16_and_current_clickhouse(
        settings: Settings, current: Any) -> None:
    now = int(time.time())
    for statement in seed_rows(now):
        on_1816(settings, statement)
        current.query(statement)
    answers = {}
    for title, target in targets("epidemiology"):
        assert target["datasource"]["uid"] == "truyvet-clickhouse", title
        sql = expand_macros(target["rawSql"], now - DAY_S, now)
        old, new = on_1816(settings, sql), rows(current, sql)
        assert old == new, f"{title}: 18.16 and current ClickHouse disagree"
        answers[title] = new
    hour = datetime.fromtimestamp(now - now % 3600 - 3600, UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert answers == {
        "Scans per hour": [[hour, "4", "3"]],
        "Open cases, F1, F2": [["1", "1", "1"]],  # a3 retracted, c2 withdrawn
        "Cases reported per day, with F1 and F2": [[hour[:10] + " 00:00:00", "1", "1", "1"]],
        "Busiest venues": [["Cafe Lan", "3"], ["market", "1"]],
        "Open cases": [["c1", _plus(hour, 600), "1", "1", "0"]],
        "Distinct visitors in the range": [["3"]],
    }


def _plus(moment: str, seconds: int) -> str:
    at = datetime.strptime(moment, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
    return datetime.fromtimestamp(at + seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


def test_every_promql_expression_passes_promtool(tmp_path: Path) -> None:
    rules = []
    for n, (title, target) in enumerate(targets("pipeline-health")):
        assert target["datasource"]["uid"] == "truyvet-prometheus", title
        # Grafana's own variable: a range of at least four scrape intervals.
        expr = target["expr"].replace("$__rate_interval", "1m")
        assert "$" not in expr, title
        rules.append({"record": f"truyvet:grafana_panel:{n}", "expr": expr})
    assert len(rules) >= 10
    rules_file = tmp_path / "panels.yml"
    rules_file.write_text(json.dumps({"groups": [{"name": "panels", "rules": rules}]}))
    checked = subprocess.run([prometheus.binary("promtool"), "check", "rules", str(rules_file)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules)} rules found" in checked.stdout


def test_the_dashboards_use_the_provisioned_data_sources() -> None:
    provisioned = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "truyvet.yaml").read_text())
    kinds = {source["uid"]: source["type"] for source in provisioned["datasources"]}
    assert kinds == {"truyvet-clickhouse": "grafana-clickhouse-datasource",
                     "truyvet-prometheus": "prometheus"}
    for name in ("epidemiology", "pipeline-health"):
        board = dashboard(name)
        for panel in board["panels"]:
            assert kinds[panel["datasource"]["uid"]] == panel["datasource"]["type"], panel
        assert len({panel["id"] for panel in board["panels"]}) == len(board["panels"])
    boards = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "truyvet.yaml").read_text())
    assert [p["type"] for p in boards["providers"]] == ["file"]
