"""A case's contact list: one row per current alert, with what a call centre needs to act.

Pure: the alerts, their sealed identifiers, their follow-up states and the clock come in; the
rows go out. The identifier stays sealed (only the authority's offline key opens it, with
``truyvet contacts open``); ``person`` is the case's own id of the person (``views.CaseView``),
so a row can be matched with the case's alerts and chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from services.alerts.domain.follow_up import DAY_S, FollowUp

COLUMNS = ("case_id", "alert_id", "person", "degree", "exposed_at", "venue_ids", "risk_level",
           "follow_up_state", "follow_up_until", "key_id", "sealed")
"""The CSV header; ``truyvet contacts open`` reads it back."""


@dataclass(frozen=True, slots=True)
class ContactLine:
    """What one alert of the list is made of (epoch seconds)."""

    alert_id: str
    person_id: str
    degree: int
    exposed_at: int
    venue_ids: tuple[str, ...]
    created_at: int
    risk_level: str = ""


@dataclass(frozen=True, slots=True)
class ContactRow:
    case_id: str
    alert_id: str
    person: str
    degree: int
    exposed_at: int
    venue_ids: tuple[str, ...]
    risk_level: str
    follow_up_state: str
    follow_up_until: int
    key_id: str
    sealed: str


def contact_rows(case_id: str, lines: Iterable[ContactLine],
                 sealed: Mapping[str, tuple[str, str]], states: Mapping[str, str], *,
                 follow_up_days: int, reach_within_h: int, now: int,
                 shown_as: Callable[[str], str], only: str | None = None) -> list[ContactRow]:
    """The rows of ``lines`` (in their order), only those of the follow-up list ``only`` if
    given. ``sealed`` maps a pseudonym to ``(key_id, sealed)``; one without stays blank.

    Example:
        >>> line = ContactLine("a1", "p1", 1, 0, ("v1",), 0)
        >>> [row] = contact_rows("c1", [line], {"p1": ("k", "s")}, {}, follow_up_days=14,
        ...                      reach_within_h=24, now=0, shown_as=str.upper)
        >>> row.person, row.follow_up_state, row.follow_up_until, row.sealed
        ('P1', 'new', 1209600, 's')
        >>> contact_rows("c1", [line], {}, {}, follow_up_days=14, reach_within_h=24,
        ...              now=2 * 86_400, shown_as=str, only="overdue")[0].key_id
        ''
    """
    rows = []
    for line in lines:
        state = states.get(line.alert_id, "new")
        follow = FollowUp(line.exposed_at, line.created_at, state, follow_up_days,
                          reach_within_h * 3600)
        if only is not None and not follow.in_list(only, now):
            continue
        key_id, box = sealed.get(line.person_id, ("", ""))
        rows.append(ContactRow(case_id, line.alert_id, shown_as(line.person_id), line.degree,
                               line.exposed_at, line.venue_ids, line.risk_level, state,
                               follow.until, key_id, box))
    return rows


__all__ = ["COLUMNS", "DAY_S", "ContactLine", "ContactRow", "contact_rows"]
