"""Push a synthetic city through the real HTTP ingest API and account for every scan.

Venues are registered with ``POST /v1/venues`` (admin token), the city's gate uploads go to
``POST /v1/scans`` with each venue's key, a few requests at a time, in the order the gates
uploaded them; with ``cases``, confirmed cases follow through ``POST /v1/cases`` (authority
token). A 503 or 429 is retried after its ``Retry-After``, a bounded number of times; anything
else that is not an answer about the scans ends the run with a :class:`SimulationError`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from kafka.errors import KafkaError
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from services.core.config import Settings
from truyvet.registry_commands import CommandError, add_token
from truyvet.simulate.city import City, CityConfig, Venue
from truyvet.simulate.gates import UploadBatch

MAX_SCANS_PER_REQUEST = 2000
_RETRY_STATUSES = (429, 503)
_LONGEST_WAIT_S = 60.0


class SimulationError(RuntimeError):
    """Why a simulation could not go on, in one line for the operator."""


@dataclass(frozen=True)
class RunOptions:
    ingest_url: str
    dashboard_url: str
    admin_token: str | None = None  # issued through the registry when absent
    authority_token: str | None = None  # likewise, when cases are reported
    cases: int = 0
    concurrency: int = 4
    max_retries: int = 6
    timeout_s: float = 60.0
    progress: bool = True


@dataclass
class SimulationSummary:
    """What a run sent and what ingest answered."""

    ingest_url: str
    dashboard_url: str
    namespace: str
    seed: int
    people: int
    venues: int
    days: int
    window_start: str
    window_end: str
    venue_ids: list[str] = field(default_factory=list, repr=False)
    batches: int = 0
    requests: int = 0  # every HTTP request: venues, scans and cases, retries included
    retries: int = 0
    scans_sent: int = 0
    accepted: int = 0  # as ingest counted: a re-delivery in a later request counts again
    accepted_redeliveries: int = 0  # accepted copies of scans an earlier request carried
    duplicates_in_request: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    push_s: float = 0.0
    elapsed_s: float = 0.0
    digest: str = ""  # sha256 of every request body in upload order: equal runs, equal digest
    cases: list[dict[str, str]] = field(default_factory=list)

    @property
    def unique_accepted(self) -> int:
        """Distinct scans ingest accepted: what the ``scans`` table ends up holding."""
        return self.accepted - self.accepted_redeliveries

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    @property
    def scans_per_s(self) -> float:
        return self.scans_sent / self.push_s if self.push_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        del body["venue_ids"]
        body.update(unique_accepted=self.unique_accepted, refused_total=self.refused_total,
                    scans_per_s=round(self.scans_per_s, 1), push_s=round(self.push_s, 3),
                    elapsed_s=round(self.elapsed_s, 3))
        return body


def default_ingest_url(settings: Settings) -> str:
    return f"http://{settings.ingest_host}:{settings.ingest_port}"


def dashboard_url(settings: Settings) -> str:
    return f"http://{settings.alerts_host}:{settings.alerts_port}/"


def simulate(
    settings: Settings,
    config: CityConfig,
    options: RunOptions,
    console: Console | None = None,
    before_cases: Callable[[SimulationSummary], None] | None = None,
) -> SimulationSummary:
    """Register the city's venues, push its scans, report its cases; the summary of it all.

    ``before_cases`` runs (in a thread) between the last scan and the first case, e.g. to let
    the tracer catch up first.
    """
    began = time.monotonic()
    city = City(config)
    url = options.ingest_url.rstrip("/")
    _check_reachable(url)
    label = f"truyvet simulate {config.venue_prefix}"
    admin = options.admin_token or _issue(settings, "admin", label)
    authority = None
    if options.cases > 0:
        authority = options.authority_token or _issue(settings, "authority", label)
    summary = SimulationSummary(
        ingest_url=url, dashboard_url=options.dashboard_url, namespace=config.venue_prefix,
        seed=config.seed, people=config.people, venues=len(city.venues), days=config.days,
        window_start=config.start.isoformat(), window_end=config.end.isoformat(),
        venue_ids=[v.venue_id for v in city.venues],
    )
    pusher = _Pusher(url, options, summary, before_cases)
    asyncio.run(pusher.run(city, admin, authority, console))
    summary.elapsed_s = time.monotonic() - began
    return summary


def _check_reachable(url: str) -> None:
    try:
        httpx.get(f"{url}/healthz", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        raise SimulationError(
            f"ingest is not reachable at {url} ({exc.__class__.__name__}: {exc}); "
            "is the stack up? (truyvet status)"
        ) from exc


def _issue(settings: Settings, role: str, label: str) -> str:
    try:
        return add_token(settings, role=role, label=label)
    except (CommandError, KafkaError) as exc:
        raise SimulationError(
            f"cannot issue a {role} token through the registry at {settings.kafka_bootstrap} "
            f"({exc}); pass one with --{role}-token"
        ) from exc


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)[:200]


class _Pusher:
    """The asynchronous part: a few requests in flight, counts kept in one summary."""

    def __init__(self, url: str, options: RunOptions, summary: SimulationSummary,
                 before_cases: Callable[[SimulationSummary], None] | None) -> None:
        self._url = url
        self._before_cases = before_cases
        self._options = options
        self._summary = summary
        self._error: SimulationError | None = None
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._window_start = 0
        self._push_began = 0.0

    async def run(self, city: City, admin: str, authority: str | None,
                  console: Console | None) -> None:
        limits = httpx.Limits(max_connections=self._options.concurrency + 4)
        async with httpx.AsyncClient(base_url=self._url, timeout=self._options.timeout_s,
                                     limits=limits) as http:
            keys = await self._register(http, admin, city.venues)
            progress = Progress(
                TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                TextColumn("{task.fields[sent]:>11,} scans"),
                TextColumn("{task.fields[rate]:>8,.0f} scans/s"), TimeElapsedColumn(),
                console=console, disable=not self._options.progress or console is None,
                transient=True,
            )
            config = city.config
            self._window_start = int(config.start.timestamp())
            with progress:
                self._progress = progress
                self._task = progress.add_task(
                    "pushing the city's scans", total=config.days * 86_400, sent=0, rate=0.0)
                await self._push(http, city, keys)
            if authority is not None:
                if self._before_cases is not None:
                    await asyncio.to_thread(self._before_cases, self._summary)
                await self._report_cases(http, authority, city)

    # --- venues ------------------------------------------------------------------------------

    async def _register(self, http: httpx.AsyncClient, admin: str,
                        venues: list[Venue]) -> dict[str, str]:
        limit = asyncio.Semaphore(max(8, self._options.concurrency))
        headers = {"Authorization": f"Bearer {admin}"}

        async def register(venue: Venue) -> tuple[str, str]:
            async with limit:
                answer = await self._post(http, "/v1/venues", headers, json=venue.registration())
            if answer.status_code == 409:
                raise SimulationError(
                    f"venue {venue.venue_id!r} already exists at {self._url}; venue keys are "
                    "shown once, so pick another --namespace")
            if answer.status_code != 201:
                raise SimulationError(f"registering venue {venue.venue_id!r} failed: "
                                      f"{answer.status_code} {_problem(answer)}")
            return venue.venue_id, str(answer.json()["api_key"])

        return dict(await asyncio.gather(*(register(v) for v in venues)))

    # --- scans -------------------------------------------------------------------------------

    async def _push(self, http: httpx.AsyncClient, city: City, keys: dict[str, str]) -> None:
        queue: asyncio.Queue[tuple[UploadBatch, bytes] | None] = asyncio.Queue(
            maxsize=self._options.concurrency * 8)
        workers = [asyncio.create_task(self._worker(http, queue, keys))
                   for _ in range(self._options.concurrency)]
        digest = hashlib.sha256()
        self._push_began = time.monotonic()
        try:
            for batch in city.batches():
                if len(batch.scans) > MAX_SCANS_PER_REQUEST:
                    raise SimulationError(f"a batch of {len(batch.scans)} scans is over the "
                                          f"{MAX_SCANS_PER_REQUEST} a request may carry")
                body = batch.body()
                digest.update(body + b"\n")
                await queue.put((batch, body))
                if self._error is not None:
                    break
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
        self._summary.push_s = time.monotonic() - self._push_began
        if self._error is not None:
            raise self._error
        self._summary.digest = digest.hexdigest()

    async def _worker(self, http: httpx.AsyncClient,
                      queue: asyncio.Queue[tuple[UploadBatch, bytes] | None],
                      keys: dict[str, str]) -> None:
        while (item := await queue.get()) is not None:
            if self._error is not None:
                continue  # drain, so the producer never waits on a full queue
            batch, body = item
            try:
                await self._send(http, batch, body, keys[batch.venue_id])
            except SimulationError as exc:
                self._error = self._error or exc
            except Exception as exc:  # stop the run with the reason rather than hang it
                self._error = self._error or SimulationError(
                    f"pushing a batch of venue {batch.venue_id!r} failed: {exc!r}")

    async def _send(self, http: httpx.AsyncClient, batch: UploadBatch, body: bytes,
                    key: str) -> None:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        answer = await self._post(http, "/v1/scans", headers, content=body)
        try:
            receipt = answer.json() if answer.status_code in (202, 422) else None
        except ValueError:
            receipt = None
        if not isinstance(receipt, dict) or "accepted" not in receipt:
            raise SimulationError(
                f"ingest refused a batch of venue {batch.venue_id!r}: {answer.status_code} "
                f"{_problem(answer)}")
        summary = self._summary
        summary.batches += 1
        summary.scans_sent += len(batch.scans)
        # Acknowledged, new or replayed: the re-deliveries are taken out below, by the run's own
        # account (ingest's memory of replays is bounded and per replica).
        summary.accepted += int(receipt["accepted"]) + int(receipt.get("replayed", 0))
        summary.duplicates_in_request += int(receipt["duplicates_in_request"])
        refused_at = {int(r["index"]) for r in receipt["refused"]}
        summary.accepted_redeliveries += len(batch.redelivered - refused_at)
        reasons = Counter(str(r["reason"]) for r in receipt["refused"])
        summary.refused = dict(Counter(summary.refused) + reasons)
        if self._progress is not None and self._task is not None:
            elapsed = time.monotonic() - self._push_began
            self._progress.update(
                self._task, completed=max(0, batch.uploaded_at - self._window_start),
                sent=summary.scans_sent, rate=summary.scans_sent / elapsed if elapsed else 0.0)

    # --- cases -------------------------------------------------------------------------------

    async def _report_cases(self, http: httpx.AsyncClient, authority: str, city: City) -> None:
        headers = {"Authorization": f"Bearer {authority}"}
        for case in city.cases(self._options.cases):
            answer = await self._post(http, "/v1/cases", headers, json=case.body())
            if answer.status_code != 202:
                raise SimulationError(f"reporting case {case.case_id!r} failed: "
                                      f"{answer.status_code} {_problem(answer)}")
            self._summary.cases.append({**case.body(), "venue_id": case.venue_id})

    # --- one request, retried ----------------------------------------------------------------

    async def _post(self, http: httpx.AsyncClient, path: str, headers: dict[str, str],
                    **body: Any) -> httpx.Response:
        """POST, retrying a 503/429 (after Retry-After) or a lost connection, boundedly."""
        retries = self._options.max_retries
        for attempt in range(retries + 1):
            self._summary.requests += 1
            try:
                answer = await http.post(path, headers=headers, **body)
            except httpx.TransportError as exc:
                if attempt == retries:
                    raise SimulationError(
                        f"ingest at {self._url} stopped answering ({exc.__class__.__name__}: "
                        f"{exc}) after {retries} retries") from exc
                wait = min(_LONGEST_WAIT_S, 0.5 * 2**attempt)
            else:
                if answer.status_code not in _RETRY_STATUSES:
                    return answer
                if attempt == retries:
                    raise SimulationError(
                        f"ingest still answered {answer.status_code} to {path} after {retries} "
                        f"retries: {_problem(answer)}")
                wait = _retry_after(answer, default=0.5 * 2**attempt)
            self._summary.retries += 1
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")


def _retry_after(answer: httpx.Response, default: float) -> float:
    try:
        wait = float(answer.headers.get("Retry-After", default))
    except ValueError:  # an HTTP date: rare enough to just back off
        wait = default
    return min(_LONGEST_WAIT_S, max(0.0, wait))


__all__ = ["CityConfig", "RunOptions", "SimulationError", "SimulationSummary", "simulate"]
