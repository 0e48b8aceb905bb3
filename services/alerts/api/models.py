"""Response shapes of the alerts API (and the one query type it needs).

Output shapes use plain ``str`` ids rather than the input constraints of ``schemas.common``: a
stored value that some older writer let through must still be readable, not turn into a 5xx.
Times are aware UTC datetimes, serialised as ISO 8601 with a ``Z``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from services.alerts.api.views import CaseView
from services.alerts.domain import ChainNode
from services.alerts.domain.graph import GraphFigures
from services.alerts.queries import AlertRecord, CaseRecord, CaseStatus, PageKey

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _calendar_date(value: object) -> object:
    # pydantic alone would also take "1763596800" (epoch seconds at midnight) as a date.
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("expected a calendar date as YYYY-MM-DD")
    return value


# ClickHouse's Date type covers these days (18.16 and current releases alike): a day outside
# cannot be stored, and asking the store for one is the caller's mistake, not an outage.
_STORABLE_DAYS = (date(1970, 1, 1), date(2105, 12, 31))


def _storable_date(value: date) -> date:
    first, last = _STORABLE_DAYS
    if not first <= value <= last:
        raise ValueError(f"expected a date from {first} to {last}")
    return value


CalendarDate = Annotated[date, BeforeValidator(_calendar_date), AfterValidator(_storable_date)]
"""A ``YYYY-MM-DD`` query value, and nothing else that happens to parse as a date."""


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True)


class CaseAlerts(_Public):
    """A page of a case's current alerts; a withdrawn case has none (they were retracted)."""

    case_id: str
    status: CaseStatus
    alerts: list[AlertRecord]
    next_cursor: str | None = Field(description="The next page's cursor; null on the last.")


class ChainNodePublic(_Public):
    """One person of the transmission tree; the root is F0 (degree 0, no exposure, no via)."""

    person: str
    degree: int
    exposed_at: datetime | None
    via: str | None
    venue_ids: list[str]
    children: list[ChainNodePublic]

    def size(self) -> int:
        """People in this subtree, itself included."""
        return 1 + sum(child.size() for child in self.children)


class CaseChain(_Public):
    """The transmission tree F0 → F1 → F2 … of a case, a page of F1 branches at a time.

    ``people`` counts the whole tree, F0 included; ``branches`` its F1.
    """

    case_id: str
    status: CaseStatus
    reported_at: datetime
    people: int
    branches: int
    chain: ChainNodePublic
    next_cursor: str | None = Field(description="The next page's cursor; null on the last.")

    @classmethod
    def page(cls, case: CaseRecord, root: ChainNode, *, after: PageKey | None, limit: int,
             max_degree: int, key_of: Callable[[ChainNode], PageKey],
             cursor_of: Callable[[PageKey], str], view: CaseView) -> CaseChain:
        """The chain with the F1 branches after ``after`` (in ``key_of`` order), ``limit`` of
        them, cut below ``max_degree``, every person in ``view``'s ids."""
        ordered = sorted(((key_of(child), child) for child in root.children),
                         key=lambda pair: pair[0])
        rest = [pair for pair in ordered if after is None or pair[0] > after]
        shown, more = rest[:limit], len(rest) > limit
        tree = dict(root.to_dict(), children=[_cut(child.to_dict(), max_degree)
                                              for _, child in shown])
        # The domain's tree holds epoch seconds; validating its dict turns them into UTC times.
        return cls(case_id=case.case_id, status=case.status, reported_at=case.reported_at,
                   people=root.size(), branches=len(root.children),
                   chain=ChainNodePublic.model_validate(view.chain(tree)),
                   next_cursor=cursor_of(shown[-1][0]) if more else None)


def _cut(node: dict[str, Any], max_degree: int) -> dict[str, Any]:
    children = node["children"] if node["degree"] < max_degree else []
    return dict(node, children=[_cut(child, max_degree) for child in children])


class ConnectedPublic(_Public):
    person: str
    contacts: int = Field(description="Distinct people this person was in contact with.")
    exposure_s: int = Field(description="Seconds in contact, summed over those people.")


class GraphFiguresPublic(_Public):
    """Headline numbers of a venue-day contact graph."""

    people: int
    contacts: int = Field(description="Contact edges; a pair that met twice counts twice.")
    pairs: int = Field(description="Distinct pairs of people in contact.")
    clusters: int = Field(description="Connected components.")
    largest_cluster: int = Field(description="People in the largest connected component.")
    total_exposure_s: int = Field(description="Seconds every pair spent together, summed.")
    most_connected: list[ConnectedPublic] = Field(
        description="Top 10 by distinct contacts, then by time in contact."
    )

    @classmethod
    def of(cls, figures: GraphFigures) -> GraphFiguresPublic:
        return cls.model_validate(figures.to_dict())


class GraphNodePublic(_Public):
    id: str = Field(description="Pseudonym of the person.")
    contacts: int
    exposure_s: int
    cluster: int = Field(description="0 for the largest connected component, then by size.")


class IntervalPublic(_Public):
    start: str = Field(description="ISO 8601, UTC.")
    end: str = Field(description="ISO 8601, UTC.")


class GraphLinkPublic(_Public):
    source: str
    target: str
    weight: int = Field(description="Seconds the two spent together.")
    contacts: int
    intervals: list[IntervalPublic]


class GraphMeta(_Public):
    venue_id: str
    day: str


class VenueGraph(_Public):
    """Node-link JSON (networkx ``node_link_data`` with ``links``) plus the graph's figures."""

    directed: bool
    multigraph: bool
    graph: GraphMeta
    nodes: list[GraphNodePublic]
    links: list[GraphLinkPublic]
    figures: GraphFiguresPublic
