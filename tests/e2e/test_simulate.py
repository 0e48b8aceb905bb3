"""``truyvet simulate`` through a real ingest process, tracer and alerts worker: every scan
ingest accepted is stored once, the run sends exactly what the seed generates, and the reported
cases get their alerts."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.core.clickhouse import clickhouse_client
from services.core.config import Settings
from tests.support.processes import ServiceProcess, free_port, running_http_service, wait_for
from tests.support.stack import isolated_settings
from truyvet import cli
from truyvet.simulate.alerts import PipelineReads, wait_for_alerts
from truyvet.simulate.city import City, CityConfig
from truyvet.simulate.run import RunOptions, SimulationError, SimulationSummary, simulate

pytestmark = pytest.mark.e2e


@dataclass
class Running:
    settings: Settings
    ingest: str
    workers: list[ServiceProcess]

    def options(self, **changes: object) -> RunOptions:
        options = RunOptions(ingest_url=self.ingest, dashboard_url="http://dashboard.test/",
                             progress=False)
        return replace(options, **changes)  # type: ignore[arg-type]

    def assert_alive(self) -> None:
        for worker in self.workers:
            assert worker.alive(), worker.log_tail()


@pytest.fixture(scope="module")
def running(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    state_dir: Path = tmp_path_factory.mktemp("simulate")
    settings = isolated_settings(stack, state_dir)
    ingest = f"http://{settings.ingest_host}:{settings.ingest_port}"
    with ExitStack() as stack_of:
        stack_of.enter_context(running_http_service("services.ingest", settings, ingest,
                                                    state_dir / "ingest.log"))
        workers = [ServiceProcess("services.tracer", settings, state_dir / "tracer.log"),
                   ServiceProcess("services.alerts.worker", settings, state_dir / "alerts.log")]
        for worker in workers:
            stack_of.callback(worker.stop)
        yield Running(settings, ingest, workers)


@pytest.fixture(scope="module")
def city_config() -> CityConfig:
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    return CityConfig(seed=21, people=300, venues=14, days=2, end=end, namespace="e2e21")


@pytest.fixture(scope="module")
def summary(running: Running, city_config: CityConfig) -> SimulationSummary:
    # Tokens are issued through the registry, as the CLI does when none is given.
    return simulate(running.settings, city_config, running.options(cases=2))


def distinct_stored_scans(settings: Settings, venue_ids: list[str]) -> int:
    client = clickhouse_client(settings)
    try:
        rows = client.execute(
            "SELECT count() FROM (SELECT DISTINCT venue_id, event_id FROM scans"
            " WHERE venue_id IN %(venues)s)", {"venues": tuple(venue_ids)})
    finally:
        client.disconnect()
    return int(rows[0][0])


def test_every_accepted_scan_is_stored_once(running: Running, summary: SimulationSummary) -> None:
    assert summary.refused == {}
    assert summary.scans_sent > 1000 and summary.batches > 100
    # The city is messy: copies in one upload, and copies in a later one that ingest takes again.
    assert summary.duplicates_in_request > 0 and summary.accepted_redeliveries > 0
    assert summary.accepted + summary.duplicates_in_request == summary.scans_sent

    def stored_all() -> bool:
        running.assert_alive()
        return distinct_stored_scans(running.settings, summary.venue_ids) >= \
            summary.unique_accepted

    wait_for(stored_all, 120, "the tracer to store every accepted scan", every_s=0.5)
    assert distinct_stored_scans(running.settings, summary.venue_ids) == summary.unique_accepted


def test_the_run_sent_exactly_what_the_seed_generates(
    summary: SimulationSummary, city_config: CityConfig
) -> None:
    def digest() -> str:
        hashed = hashlib.sha256()
        for batch in City(city_config).batches():
            hashed.update(batch.body() + b"\n")
        return hashed.hexdigest()

    assert summary.digest == digest() == digest()
    assert summary.unique_accepted == _scans(city_config)  # nothing refused, nothing lost


def _scans(config: CityConfig) -> int:
    city = City(config)
    for _ in city.batches():
        pass
    return city.stats.scans


def test_the_reported_cases_get_alerts(running: Running, summary: SimulationSummary) -> None:
    case_ids = [case["case_id"] for case in summary.cases]
    assert len(case_ids) == 2
    reads = PipelineReads.connect(running.settings)
    try:
        progress = wait_for_alerts(reads, case_ids=case_ids, venue_ids=summary.venue_ids,
                                   scans_expected=summary.unique_accepted, timeout_s=150,
                                   settle_s=3, poll_s=0.5)
    finally:
        reads.close()
    running.assert_alive()
    assert progress.settled, progress
    for case_id in case_ids:
        assert progress.counts[case_id].get(1, 0) > 0, progress.counts


def test_a_venue_registered_before_is_a_clear_error(
    running: Running, summary: SimulationSummary, city_config: CityConfig
) -> None:
    with pytest.raises(SimulationError, match=r"already exists.*--namespace"):
        simulate(running.settings, city_config, running.options())


def test_unreachable_ingest_is_one_line_and_exit_code_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRUYVET_STATE_DIR", str(tmp_path))
    url = f"http://127.0.0.1:{free_port()}"
    assert cli.main(["simulate", "--people", "20", "--venues", "3", "--ingest-url", url]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ingest is not reachable at " + url), err
    assert "\n" not in err
