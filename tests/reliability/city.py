"""The generated venues and days the reliability tests push through the pipeline."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace

from services.alerts.domain.model import Case
from services.core.config import Settings
from services.tracer.domain.model import Contact, Scan, VenueRules
from tests.support.pseudonyms import pseudonym as keyed
from tests.support.pseudonyms import vn_mobile_e164

HOUR = 3600


def venues(count: int, prefix: str = "venue") -> dict[str, VenueRules]:
    """``count`` venues with a mix of dwell and overlap rules (each registered with its own)."""
    return {
        f"{prefix}-{i}": VenueRules(
            default_dwell=1800 if i % 3 == 0 else 3600,
            max_dwell=43_200,
            min_overlap=600 if i % 4 == 0 else 900,
        )
        for i in range(count)
    }


def recent_start(hours_ago: int = 48) -> int:
    """A start time for a generated day that ends before now (the ingest refuses the future)."""
    return int(time.time()) - hours_ago * HOUR


def most_connected(contacts: set[Contact], k: int) -> list[str]:
    degree: Counter[str] = Counter()
    for c in contacts:
        degree.update((c.person_a, c.person_b))
    return [p for p, _ in sorted(degree.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def cases_of(f0s: list[str], *, prefix: str, onset_at: int) -> list[Case]:
    reported_at = int(time.time()) - 60
    return [
        Case(case_id=f"{prefix}-{i}", person=p, onset_at=onset_at, reported_at=reported_at)
        for i, p in enumerate(f0s)
    ]


def raw_id(person_ref: str) -> str:
    """A phone-number-like raw identifier standing for a generated person."""
    return "09" + str(int(person_ref[:12], 16) % 10**8).zfill(8)


def pseudonym(settings: Settings, raw: str) -> str:
    """What ingest turns ``raw`` (one of :func:`raw_id`'s numbers) into: its E.164, keyed."""
    return keyed(settings, vn_mobile_e164(raw))


def as_seen_downstream(settings: Settings, scans: list[Scan]) -> list[Scan]:
    """The scans as the tracer sees them after ingest pseudonymised their raw ids."""
    return [replace(s, person=pseudonym(settings, raw_id(s.person))) for s in scans]
