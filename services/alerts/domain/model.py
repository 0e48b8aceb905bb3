"""Values the alerts domain works on: contact edges in, a case, alerts out.

Times are integer seconds since the Unix epoch (UTC); persons are pseudonym strings. Every value
validates itself on construction, so an invalid case or edge never reaches the search.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from services.alerts.domain.errors import InvalidCaseError, InvalidContactEdgeError
from services.alerts.domain.window import InfectiousWindow, infectious_window

# uuid5(NAMESPACE_URL, "https://truyvet.invalid/alerts"), written out so it can never drift:
# changing it would re-key every alert ever sent.
ALERT_ID_NAMESPACE = uuid.UUID("9ae6e4a0-a89e-59d1-afca-2bdc37d280d8")


def alert_id_for(case_id: str, person: str) -> str:
    """The deterministic alert id of (case, person) (rule 8), so re-processing never duplicates.

    The unit separator keeps ("a", "b:c") and ("a:b", "c") apart.

    Example:
        >>> alert_id_for("c1", "p1") == alert_id_for("c1", "p1") != alert_id_for("c1", "p2")
        True
    """
    return str(uuid.uuid5(ALERT_ID_NAMESPACE, f"{case_id}\x1f{person}"))


@dataclass(frozen=True, slots=True)
class ContactEdge:
    """An undirected contact: ``person_a`` and ``person_b`` at ``venue_id`` during ``[start, end]``.

    Example:
        >>> ContactEdge("k1", "cafe", "ann", "bob", 10, 20).other("bob")
        'ann'
    """

    contact_id: str
    venue_id: str
    person_a: str
    person_b: str
    start: int
    end: int

    def __post_init__(self) -> None:
        if not self.contact_id:
            raise InvalidContactEdgeError("contact edge needs a contact_id")
        if not self.person_a or not self.person_b:
            raise InvalidContactEdgeError(f"contact {self.contact_id} needs two persons")
        if self.person_a == self.person_b:
            raise InvalidContactEdgeError(
                f"contact {self.contact_id} joins {self.person_a!r} to themselves"
            )
        if self.start > self.end:
            raise InvalidContactEdgeError(
                f"contact {self.contact_id} starts at {self.start}, after its end {self.end}"
            )

    def other(self, person: str) -> str:
        """The endpoint that is not ``person`` (who must be an endpoint)."""
        if person == self.person_a:
            return self.person_b
        if person == self.person_b:
            return self.person_a
        raise InvalidContactEdgeError(f"{person!r} is not in contact {self.contact_id}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """A confirmed case, F0 (rule 5). Keyword-only: four optional epoch times are easy to swap.

    Example:
        >>> Case(case_id="c1", person="ann", sampled_at=200_000, reported_at=210_000).window
        InfectiousWindow(start=27200, end=210000)
    """

    case_id: str
    person: str
    onset_at: int | None = None
    sampled_at: int | None = None
    reported_at: int
    isolated_at: int | None = None
    window: InfectiousWindow = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.case_id:
            raise InvalidCaseError("case needs a case_id")
        if not self.person:
            raise InvalidCaseError(f"case {self.case_id} needs a person")
        window = infectious_window(
            onset_at=self.onset_at,
            sampled_at=self.sampled_at,
            reported_at=self.reported_at,
            isolated_at=self.isolated_at,
        )
        if window is None:
            raise InvalidCaseError(f"case {self.case_id} needs onset_at or sampled_at")
        # An inverted window would silently alert nobody; refuse it so the authority hears of it.
        if window.start > window.end:
            raise InvalidCaseError(
                f"case {self.case_id} has an empty infectious window: it starts at "
                f"{window.start} (48 h before onset or sampling) but ends at {window.end} "
                "(isolation or report)"
            )
        object.__setattr__(self, "window", window)


@dataclass(frozen=True, slots=True)
class Exposure:
    """One qualifying contact behind an alert, seen from the alerted person.

    ``other_person`` is the endpoint one degree closer to F0.
    """

    contact_id: str
    venue_id: str
    other_person: str
    start: int
    end: int

    def timeline_key(self) -> tuple[int, int, str, str, str]:
        """Sort key that makes a tuple of exposures read as a timeline, deterministically."""
        return (self.start, self.end, self.other_person, self.venue_id, self.contact_id)


@dataclass(frozen=True, slots=True)
class Alert:
    """Rule 8's alert, minus ``created_at`` (the service stamps that when it publishes).

    ``via_person`` is None for F1 (exposed by F0 directly) and the degree-(k-1) person who gave
    the earliest exposure otherwise. ``venue_ids`` and ``exposures`` cover every qualifying
    contact with the previous degree, not only the one through ``via_person``.
    """

    alert_id: str
    case_id: str
    person: str
    degree: int
    exposed_at: int
    via_person: str | None
    venue_ids: tuple[str, ...]
    exposures: tuple[Exposure, ...]
    # Set by services.alerts.domain.risk once the search is done: weighted exposure minutes.
    risk_score: float = 0.0
    risk_level: str = "low"
