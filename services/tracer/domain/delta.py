"""What one call to the tracer state changed: visits and contacts added and retracted (rule 4)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from services.tracer.domain.model import Contact, Scan, Visit


class Delta(NamedTuple):
    """Facts added and removed by a batch of scans, and the scans refused as expired.

    Applying every delta in order to empty sets (remove ``*_removed``, then add ``*_added``)
    gives the state's current visits and contacts; a fact never appears in both lists of one
    delta. Visits are sorted; contacts come in no particular order (sorting them would cost a
    fifth of a dense batch, and every store keys them by ``contact_id``). ``expired`` scans are
    older than the state's retention horizon: the edge must count or dead-letter them, so an
    expired scan is never silently dropped.

    A named tuple rather than a frozen dataclass: one is made per batch, and building a frozen
    dataclass costs more than the rest of a one-scan batch's bookkeeping.

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
        return not any(self)

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
