"""Following up the people alerted (WHO Go.Data's contact follow-up), and a person's status.

Pure: plain values and the clock passed in. A contact is followed for ``follow_up_days`` after
exposure; each change of state is a new fact (the newest wins, the history stays); an alert's
id is a function of (case, person), so a re-derived alert finds its state again.

Example:
    >>> day = 86_400
    >>> f = FollowUp(exposed_at=0, created_at=0, state="new", days=14, reach_within_s=day)
    >>> f.until == 14 * day, f.overdue(now=2 * day), f.ended(now=15 * day)
    (True, True, True)
    >>> FollowUp(0, 0, "reached", 14, day).overdue(now=2 * day)
    False
    >>> f.due_on(now=14 * day - 1)
    True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from services.alerts.domain.errors import DomainError

FollowUpState = Literal["new", "reached", "unreachable", "tested_negative", "tested_positive",
                        "isolating", "released"]
FOLLOW_UP_STATES: tuple[str, ...] = get_args(FollowUpState)
NOT_REACHED = frozenset({"new", "unreachable"})
"""States in which nobody has spoken to the person yet: listed as overdue past the deadline."""

FollowUpList = Literal["overdue", "due_today", "ended"]
FOLLOW_UP_LISTS: tuple[str, ...] = get_args(FollowUpList)
DAY_S = 86_400


class InvalidFollowUpError(DomainError):
    """A follow-up change that cannot be recorded (an unknown state, a case from a negative)."""


@dataclass(frozen=True, slots=True)
class FollowUp:
    """One alert's follow-up: its current state and the times its lists depend on (epoch s)."""

    exposed_at: int
    created_at: int
    state: str
    days: int
    reach_within_s: int

    @property
    def until(self) -> int:
        """When the follow-up period ends: exposure plus the follow-up days."""
        return self.exposed_at + self.days * DAY_S

    def overdue(self, now: int) -> bool:
        """Not reached yet although the alert is older than the reach deadline."""
        return (self.state in NOT_REACHED and now - self.created_at > self.reach_within_s
                and not self.ended(now))

    def due_on(self, now: int) -> bool:
        """The follow-up period ends on ``now``'s UTC day (the last call is due today)."""
        return (self.until - 1) // DAY_S == now // DAY_S and not self.ended(now)

    def ended(self, now: int) -> bool:
        return now >= self.until

    def in_list(self, which: str, now: int) -> bool:
        if which == "overdue":
            return self.overdue(now)
        if which == "due_today":
            return self.due_on(now)
        if which == "ended":
            return self.ended(now)
        raise InvalidFollowUpError(f"no follow-up list {which!r}; expected one of "
                                   f"{', '.join(FOLLOW_UP_LISTS)}")


def check_change(state: str, report_case: bool) -> None:
    """Refuse what cannot be recorded: an unknown state, or a case reported from anything but
    a positive test."""
    if state not in FOLLOW_UP_STATES:
        raise InvalidFollowUpError(f"unknown follow-up state {state!r}; expected one of "
                                   f"{', '.join(FOLLOW_UP_STATES)}")
    if report_case and state != "tested_positive":
        raise InvalidFollowUpError("only a contact who tested positive can be reported as a "
                                   "case (state tested_positive)")


def funnel(states: Iterable[str]) -> dict[str, int]:
    """How many alerts are in each follow-up state, every state present.

    Example:
        >>> funnel(["new", "reached", "new"])["new"]
        2
    """
    counts = dict.fromkeys(FOLLOW_UP_STATES, 0)
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    return counts


Colour = Literal["red", "orange", "yellow", "green"]


@dataclass(frozen=True, slots=True)
class Involvement:
    """How one open case involves a person: degree 0 as its F0, else an alert's degree.

    ``venue`` marks an alert of an open exposure event (rule 11; ``case_id`` is the event's
    id): degree 1 there is a venue exposure, a degree beyond counts as that F-degree."""

    case_id: str
    degree: int
    exposed_at: int | None
    follow_up_until: int | None
    follow_up_state: str | None
    venue: bool = False

    @property
    def role(self) -> str:
        """``F0``, ``F1``, ``F2``, … or ``venue`` (present at an exposure event)."""
        return VENUE if self.venue and self.degree == 1 else f"F{self.degree}"

    def rank(self) -> int:
        """Lower is more urgent: F0, F1, F2, … then a venue exposure."""
        return VENUE_RANK if self.role == VENUE else self.degree


VENUE = "venue"
VENUE_RANK = 1_000
"""A venue exposure ranks after every case degree: the person was near a place, not a case."""


@dataclass(frozen=True, slots=True)
class PersonStatus:
    """A person's status across open cases, in PC-Covid's terms and colours."""

    status: str
    colour: Colour
    involvements: tuple[Involvement, ...]
    earliest_exposure: int | None
    follow_up_until: int | None


def person_status(involvements: Iterable[Involvement]) -> PersonStatus:
    """The lowest degree across the cases decides: F0 red, F1 orange, F2 and beyond yellow,
    then a venue exposure (present at an exposure event, rule 11) yellow, none green. Earliest
    exposure and the latest follow-up end are over the alerts, venue ones included.

    Example:
        >>> person_status([]).status, person_status([]).colour
        ('none', 'green')
        >>> s = person_status([Involvement("a", 2, 50, 90, "new"),
        ...                    Involvement("b", 1, 70, 110, "reached")])
        >>> s.status, s.colour, s.earliest_exposure, s.follow_up_until
        ('F1', 'orange', 50, 110)
        >>> v = person_status([Involvement("ev1", 1, 40, 80, "new", venue=True)])
        >>> v.status, v.colour, v.earliest_exposure
        ('venue', 'yellow', 40)
    """
    ordered = tuple(sorted(involvements, key=lambda i: (i.rank(), i.exposed_at or 0, i.case_id)))
    if not ordered:
        return PersonStatus("none", "green", (), None, None)
    first = ordered[0]
    lowest = first.rank()
    colour: Colour = "red" if lowest == 0 else "orange" if lowest == 1 else "yellow"
    exposures = [i.exposed_at for i in ordered if i.exposed_at is not None]
    ends = [i.follow_up_until for i in ordered if i.follow_up_until is not None]
    return PersonStatus(first.role, colour, ordered, min(exposures, default=None),
                        max(ends, default=None))
