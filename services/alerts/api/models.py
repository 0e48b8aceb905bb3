"""Response shapes of the alerts API (and the one query type it needs).

Output shapes use plain ``str`` ids rather than the input constraints of ``schemas.common``: a
stored value that some older writer let through must still be readable, not turn into a 5xx.
Times are aware UTC datetimes, serialised as ISO 8601 with a ``Z``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from services.alerts.api.views import CaseView
from services.alerts.domain import ChainNode
from services.alerts.domain.contact_list import ContactRow
from services.alerts.domain.follow_up import FollowUp
from services.alerts.domain.graph import GraphFigures
from services.alerts.queries import AlertRecord, CaseRecord, CaseStatus, FollowUpChange, PageKey

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
    reported_as: str | None = Field(
        default=None, description="The case this person was reported as from their "
        "follow-up (tested positive): that case's chain goes on from here.")
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
             cursor_of: Callable[[PageKey], str], view: CaseView,
             reported: Mapping[str, str] | None = None) -> CaseChain:
        """The chain with the F1 branches after ``after`` (in ``key_of`` order), ``limit`` of
        them, cut below ``max_degree``, every person in ``view``'s ids."""
        ordered = sorted(((key_of(child), child) for child in root.children),
                         key=lambda pair: pair[0])
        rest = [pair for pair in ordered if after is None or pair[0] > after]
        shown, more = rest[:limit], len(rest) > limit
        links = reported or {}
        tree = dict(root.to_dict(), children=[_cut(child.to_dict(), max_degree, links)
                                              for _, child in shown])
        # The domain's tree holds epoch seconds; validating its dict turns them into UTC times.
        return cls(case_id=case.case_id, status=case.status, reported_at=case.reported_at,
                   people=root.size(), branches=len(root.children),
                   chain=ChainNodePublic.model_validate(view.chain(tree)),
                   next_cursor=cursor_of(shown[-1][0]) if more else None)


def _cut(node: dict[str, Any], max_degree: int, reported: Mapping[str, str]) -> dict[str, Any]:
    children = node["children"] if node["degree"] < max_degree else []
    return dict(node, reported_as=reported.get(node["person"]),
                children=[_cut(child, max_degree, reported) for child in children])


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


class OccupancySlot(_Public):
    start: datetime = Field(description="The slot's start (UTC).")
    people: int = Field(description="Distinct people present at some moment of the slot.")


class VenueGraph(_Public):
    """Node-link JSON (networkx ``node_link_data`` with ``links``) plus the graph's figures."""

    directed: bool
    multigraph: bool
    graph: GraphMeta
    nodes: list[GraphNodePublic]
    links: list[GraphLinkPublic]
    figures: GraphFiguresPublic
    occupancy: list[OccupancySlot] = Field(
        description="People present per 15 minutes of the day (every visit, not only the "
        "contacts): a busy venue's timeline, where the graph is too dense to read.")


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class ContactListRow(_Public):
    """One contact of a case's list: the identifier sealed, for ``truyvet contacts open``."""

    case_id: str
    alert_id: str
    person: str = Field(description="The person in this case's own ids.")
    degree: int
    exposed_at: datetime
    venue_ids: list[str]
    risk_level: str = Field(description="Empty where the alert has none.")
    follow_up_state: str
    follow_up_until: datetime
    key_id: str = Field(description="The authority key the identifier is sealed to; empty if "
                        "the directory has no copy (no key was configured when it was seen).")
    sealed: str

    @classmethod
    def of(cls, row: ContactRow) -> ContactListRow:
        return cls(case_id=row.case_id, alert_id=row.alert_id, person=row.person,
                   degree=row.degree, exposed_at=_utc(row.exposed_at),
                   venue_ids=list(row.venue_ids), risk_level=row.risk_level,
                   follow_up_state=row.follow_up_state,
                   follow_up_until=_utc(row.follow_up_until), key_id=row.key_id,
                   sealed=row.sealed)


class ContactList(_Public):
    case_id: str
    contacts: list[ContactListRow]
    follow_up_list: str | None = Field(
        description="The follow-up list asked for (?list=); null: every contact.")


class FollowUpChangePublic(_Public):
    at: datetime
    state: str
    note: str
    token_id: str
    reported_case_id: str | None


class FollowUpPublic(_Public):
    """A contact's follow-up: its current state, the end of the period, every change."""

    case_id: str
    alert_id: str
    current: bool = Field(description="False once the alert is retracted: its history stays.")
    state: str
    follow_up_until: datetime | None
    overdue: bool
    history: list[FollowUpChangePublic]

    @classmethod
    def of(cls, case_id: str, alert_id: str, history: list[FollowUpChange],
           exposed_at: int | None, created_at: int | None, days: int, reach_within_h: int,
           *, current: bool) -> FollowUpPublic:
        state = history[-1].state if history else "new"
        follow = (FollowUp(exposed_at, created_at, state, days, reach_within_h * 3600)
                  if exposed_at is not None and created_at is not None else None)
        now = int(datetime.now(UTC).timestamp())
        return cls(case_id=case_id, alert_id=alert_id, current=current, state=state,
                   follow_up_until=_utc(follow.until) if follow else None,
                   overdue=follow.overdue(now) if follow else False,
                   history=[FollowUpChangePublic(at=c.at, state=c.state, note=c.note,
                                                 token_id=c.token_id,
                                                 reported_case_id=c.reported_case_id or None)
                            for c in history])
