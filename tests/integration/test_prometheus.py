"""The Prometheus configuration of the stack and its alert rules, checked by Prometheus' own
``promtool`` (Debian's ``prometheus`` package): the rendered config and the rules are valid, and
each rule fires on the series it is about, and only after its ``for``.

The scraping itself is shown in ``test_observability.py``, against a running pipeline.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from services.core.config import Settings
from truyvet.stack import prometheus


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([prometheus.binary("promtool"), *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


def test_the_stack_config_and_its_rules_pass_promtool(tmp_path: Path) -> None:
    config = prometheus.write_config(Settings(state_dir=tmp_path))
    checked = promtool("check", "config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 4 rules found" in checked.stdout, checked.stdout
    rules = promtool("check", "rules", str(config.parent / "rules.yml"))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    for target in ("127.0.0.1:8000", "127.0.0.1:8001", "127.0.0.1:9464", "127.0.0.1:9465"):
        assert f'"{target}"' in config.read_text()


def alert(name: str, labels: dict[str, str], summary: str) -> dict[str, object]:
    return {"exp_labels": {"alertname": name, **labels}, "exp_annotations": {"summary": summary}}


def test_each_alert_rule_fires_on_its_condition_and_not_before(tmp_path: Path) -> None:
    lag = 'truyvet_consumer_lag_messages{group="g",topic="scans",partition="0"}'
    requests = 'truyvet_http_requests_total{service="ingest",method="POST",route="/v1/scans",'
    bucket = "truyvet_case_alert_latency_seconds_bucket"
    cases = {
        "rule_files": [str(Path(prometheus.deploy_file("prometheus", "rules.yml")))],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": 'up{job="tracer",instance="t:1"}', "values": "1 0x30"},
                {"series": 'up{job="alerts",instance="a:1"}', "values": "1x30"},
                {"series": lag, "values": "0+10x30"},  # growing from the start
                {"series": requests + 'status="202"}', "values": "0+100x30"},
                {"series": requests + 'status="503"}', "values": "0+10x30"},  # 9 % of answers
                # Every case's alerts took between 1 and 2.5 s.
                {"series": bucket + '{le="1"}', "values": "0x30"},
                {"series": bucket + '{le="2.5"}', "values": "0+1x30"},
                {"series": bucket + '{le="+Inf"}', "values": "0+1x30"},
            ],
            "alert_rule_test": [
                # Down for one minute: pending, not firing yet; then firing.
                {"eval_time": "1m", "alertname": "TruyvetPartDown", "exp_alerts": []},
                {"eval_time": "3m", "alertname": "TruyvetPartDown", "exp_alerts": [
                    alert("TruyvetPartDown", {"job": "tracer", "instance": "t:1",
                                              "severity": "critical"}, "tracer (t:1) is down")]},
                {"eval_time": "4m", "alertname": "TruyvetConsumerLagGrowing", "exp_alerts": []},
                {"eval_time": "10m", "alertname": "TruyvetConsumerLagGrowing", "exp_alerts": [
                    alert("TruyvetConsumerLagGrowing",
                          {"group": "g", "topic": "scans", "severity": "warning"},
                          "g falls behind on scans")]},
                {"eval_time": "4m", "alertname": "TruyvetHttp5xx", "exp_alerts": []},
                {"eval_time": "12m", "alertname": "TruyvetHttp5xx", "exp_alerts": [
                    alert("TruyvetHttp5xx", {"service": "ingest", "severity": "warning"},
                          "ingest: 9.091% of answers are 5xx")]},
                {"eval_time": "4m", "alertname": "TruyvetCaseAlertLatencyOverBar",
                 "exp_alerts": []},
                {"eval_time": "20m", "alertname": "TruyvetCaseAlertLatencyOverBar",
                 "exp_alerts": [alert("TruyvetCaseAlertLatencyOverBar", {"severity": "warning"},
                                      "case -> alert p99 is 2.485s (bar: 1 s)")]},
            ],
        }],
    }
    test_file = tmp_path / "rules_test.yml"
    test_file.write_text(json.dumps(cases))  # JSON is YAML
    tested = promtool("test", "rules", str(test_file), cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
