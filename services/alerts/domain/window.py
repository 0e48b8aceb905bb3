"""The infectious window of a case (rule 5) and what "intersects it" means (rule 6).

Both the window and a contact's overlap are written ``[start, end]`` in the product rules, so
both are closed intervals of integer epoch seconds. Two closed intervals intersect when they
share at least one instant: a contact that ends exactly when the window starts (or starts
exactly when it ends) *is* a contact in the window. That reading errs towards alerting, which is
the safe side: a missed exposure is a silent false negative.
"""

from __future__ import annotations

from dataclasses import dataclass

INFECTIOUS_BEFORE_ONSET_S = 48 * 3600
"""How long before onset (or sampling) a case is already taken to be infectious."""


@dataclass(frozen=True, slots=True)
class InfectiousWindow:
    """A closed interval ``[start, end]`` of epoch seconds during which F0 could infect.

    Example:
        >>> w = InfectiousWindow(start=100, end=200)
        >>> w.intersects(50, 100), w.intersects(200, 300), w.intersects(201, 300)
        (True, True, False)
    """

    start: int
    end: int

    def intersects(self, start: int, end: int) -> bool:
        """True when the closed interval ``[start, end]`` shares an instant with the window."""
        return start <= self.end and end >= self.start


def infectious_window(
    *, onset_at: int | None, sampled_at: int | None, reported_at: int, isolated_at: int | None
) -> InfectiousWindow | None:
    """Rule 5's window, or None when neither onset nor sampling time is known.

    ``is not None`` rather than ``or``: an epoch second of 0 is a time, not a missing value.

    Example:
        >>> h = 3600
        >>> infectious_window(onset_at=None, sampled_at=100 * h, reported_at=101 * h,
        ...                   isolated_at=None)
        InfectiousWindow(start=187200, end=363600)
    """
    anchor = onset_at if onset_at is not None else sampled_at
    if anchor is None:
        return None
    end = isolated_at if isolated_at is not None else reported_at
    return InfectiousWindow(start=anchor - INFECTIOUS_BEFORE_ONSET_S, end=end)
