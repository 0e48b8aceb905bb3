"""What one call to the tracer state changed: visits and contacts added and retracted (rule 4)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.tracer.domain.model import Contact, Scan, Visit


@dataclass(frozen=True, slots=True)
class Delta:
    """Facts added and removed by a batch of scans, each tuple sorted; ``expired`` scans are those
    refused because they are older than the state's retention horizon (the edge must count or
    dead-letter them: an expired scan is never silently dropped).

    Applying every delta in order to empty sets — remove ``*_removed``, add ``*_added`` — gives
    the state's current visits and contacts. A fact never appears in both lists of one delta.

    Example:
        >>> Delta.merge([Delta(visits_added=(Visit("cafe", "ann", 0, 60),)), Delta()]).is_empty
        False
    """

    visits_added: tuple[Visit, ...] = ()
    visits_removed: tuple[Visit, ...] = ()
    contacts_added: tuple[Contact, ...] = ()
    contacts_removed: tuple[Contact, ...] = ()
    expired: tuple[Scan, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True if nothing changed and nothing was refused."""
        return not (
            self.visits_added
            or self.visits_removed
            or self.contacts_added
            or self.contacts_removed
            or self.expired
        )

    @classmethod
    def merge(cls, deltas: Iterable[Delta]) -> Delta:
        """Concatenate deltas of *different venues* (so no fact repeats across them)."""
        parts = list(deltas)
        if len(parts) == 1:
            return parts[0]
        return cls(
            visits_added=tuple(v for d in parts for v in d.visits_added),
            visits_removed=tuple(v for d in parts for v in d.visits_removed),
            contacts_added=tuple(c for d in parts for c in d.contacts_added),
            contacts_removed=tuple(c for d in parts for c in d.contacts_removed),
            expired=tuple(s for d in parts for s in d.expired),
        )
