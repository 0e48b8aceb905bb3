"""The contact graph of one venue on one day, and the figures a health worker asks of it.

Nodes are pseudonymous people, an edge joins two people who were in contact (rule 3) and weighs
the seconds they spent together. Pure: contact edges in, a ``networkx.Graph``, figures, node-link
JSON and GraphML out — the alerts API reads the edges from ClickHouse and serves the result.

Example:
    >>> contacts = [Edge("cafe", "ann", "bob", T, T + 1800), Edge("cafe", "bob", "cy", T, T + 900)]
    >>> graph = contact_graph("cafe", DAY, contacts)
    >>> figures = graph_figures(graph)
    >>> figures.people, figures.largest_cluster, figures.total_exposure_s
    (3, 3, 2700)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple, Protocol

import networkx as nx

from services.alerts.domain.errors import DomainError

__all__ = [
    "MOST_CONNECTED",
    "ConnectedPerson",
    "ContactLike",
    "Edge",
    "GraphFigures",
    "InvalidGraphInputError",
    "contact_graph",
    "graph_figures",
    "graphml",
    "iso_utc",
    "node_link",
]

MOST_CONNECTED = 10
"""How many people ``most_connected`` lists: the first ones a health worker would call."""


class InvalidGraphInputError(DomainError):
    """Contact edges that cannot form the graph of the venue and day asked for."""


class ContactLike(Protocol):
    """What the graph needs of a contact edge; the tracer's ``Contact`` is one."""

    @property
    def venue_id(self) -> str: ...
    @property
    def person_a(self) -> str: ...
    @property
    def person_b(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


class Edge(NamedTuple):
    """A plain contact edge (epoch seconds), for callers that have no tracer ``Contact`` at hand."""

    venue_id: str
    person_a: str
    person_b: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ConnectedPerson:
    """One person ranked by how connected they were: distinct contacts, then time in contact."""

    person: str
    contacts: int
    exposure_s: int

    def to_dict(self) -> dict[str, object]:
        return {"person": self.person, "contacts": self.contacts, "exposure_s": self.exposure_s}


@dataclass(frozen=True, slots=True)
class GraphFigures:
    """The headline numbers of one venue-day graph.

    ``contacts`` counts contact edges (a pair that met twice counts twice), ``pairs`` the distinct
    pairs; a cluster is a connected component, so one infected person can at most reach the people
    of their own cluster at this venue that day. ``total_exposure_s`` sums the time every pair
    spent together.
    """

    people: int
    contacts: int
    pairs: int
    clusters: int
    largest_cluster: int
    total_exposure_s: int
    most_connected: tuple[ConnectedPerson, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "people": self.people,
            "contacts": self.contacts,
            "pairs": self.pairs,
            "clusters": self.clusters,
            "largest_cluster": self.largest_cluster,
            "total_exposure_s": self.total_exposure_s,
            "most_connected": [person.to_dict() for person in self.most_connected],
        }


def contact_graph(venue_id: str, day: date, contacts: Iterable[ContactLike]) -> nx.Graph:
    """The undirected graph of ``venue_id``'s contacts that started on ``day`` (UTC).

    Edges carry ``weight`` (total seconds together), ``contacts`` (how many contact edges) and
    ``intervals`` (their sorted ``(start, end)`` epoch seconds). Nodes carry ``contacts``
    (degree), ``exposure_s`` (weighted degree) and ``cluster`` (0 for the largest component,
    then by size). Every edge must be of this venue and day — the day of a contact is the UTC
    date of its start, as the tracer partitions them — so a wrong query is an error, not a graph
    that mixes venues.

    One person's visits to a venue never overlap (rule 2), so the contacts of one pair are
    disjoint and their durations add up to the time the pair spent together. The same interval
    given twice is one contact (a replayed row), not two.

    Example:
        >>> graph = contact_graph("cafe", DAY, [Edge("cafe", "ann", "bob", T, T + 900),
        ...                                     Edge("cafe", "bob", "ann", T + 3600, T + 4500)])
        >>> graph.edges["ann", "bob"]["weight"], graph.edges["ann", "bob"]["contacts"]
        (1800, 2)
        >>> try:
        ...     contact_graph("cafe", DAY, [Edge("bar", "ann", "bob", T, T + 900)])
        ... except InvalidGraphInputError as refused:
        ...     print(refused)
        contact ann-bob is at venue 'bar', not 'cafe'
    """
    graph = nx.Graph(venue_id=venue_id, day=day.isoformat())
    for contact in contacts:
        _check(venue_id, day, contact)
        a, b = contact.person_a, contact.person_b
        interval = (contact.start, contact.end)
        if graph.has_edge(a, b):
            intervals: list[tuple[int, int]] = graph.edges[a, b]["intervals"]
            if interval in intervals:
                continue
            intervals.append(interval)
        else:
            graph.add_edge(a, b, intervals=[interval])
    for _, _, data in graph.edges(data=True):
        data["intervals"].sort()
        data["contacts"] = len(data["intervals"])
        data["weight"] = sum(end - start for start, end in data["intervals"])
    for person in graph.nodes:
        graph.nodes[person]["contacts"] = graph.degree(person)
        graph.nodes[person]["exposure_s"] = graph.degree(person, weight="weight")
    for index, cluster in enumerate(_clusters(graph)):
        for person in cluster:
            graph.nodes[person]["cluster"] = index
    return graph


def graph_figures(graph: nx.Graph) -> GraphFigures:
    """The figures of a graph built by :func:`contact_graph`.

    Example:
        >>> graph = contact_graph("cafe", DAY, [Edge("cafe", "ann", "bob", T, T + 900),
        ...                                     Edge("cafe", "cy", "dan", T, T + 1200),
        ...                                     Edge("cafe", "cy", "eve", T, T + 600)])
        >>> figures = graph_figures(graph)
        >>> figures.clusters, figures.largest_cluster, figures.most_connected[0]
        (2, 3, ConnectedPerson(person='cy', contacts=2, exposure_s=1800))
    """
    clusters = _clusters(graph)
    ranked = sorted(
        (
            ConnectedPerson(person, data["contacts"], data["exposure_s"])
            for person, data in graph.nodes(data=True)
        ),
        key=lambda p: (-p.contacts, -p.exposure_s, p.person),
    )
    return GraphFigures(
        people=graph.number_of_nodes(),
        contacts=sum(data["contacts"] for _, _, data in graph.edges(data=True)),
        pairs=graph.number_of_edges(),
        clusters=len(clusters),
        largest_cluster=len(clusters[0]) if clusters else 0,
        total_exposure_s=int(graph.size(weight="weight")),
        most_connected=tuple(ranked[:MOST_CONNECTED]),
    )


def node_link(graph: nx.Graph) -> dict[str, Any]:
    """The graph as node-link JSON (``nodes`` and ``links``), interval times in ISO 8601 UTC.

    Example:
        >>> data = node_link(contact_graph("cafe", DAY, [Edge("cafe", "ann", "bob", T, T + 900)]))
        >>> data["graph"], [node["id"] for node in data["nodes"]]
        ({'venue_id': 'cafe', 'day': '2026-11-20'}, ['ann', 'bob'])
        >>> data["links"][0]["intervals"]
        [{'start': '2026-11-20T08:00:00Z', 'end': '2026-11-20T08:15:00Z'}]
    """
    data: dict[str, Any] = nx.node_link_data(graph, edges="links")
    for link in data["links"]:
        link["intervals"] = [
            {"start": iso_utc(start), "end": iso_utc(end)} for start, end in link["intervals"]
        ]
    return data


def graphml(graph: nx.Graph) -> Iterator[str]:
    """The graph as GraphML lines. GraphML has no list type, so each edge's ``intervals`` is a
    string of ISO 8601 intervals (``start/end``) separated by spaces, as in an XML Schema list.

    Example:
        >>> text = "\\n".join(graphml(contact_graph("cafe", DAY,
        ...                                         [Edge("cafe", "ann", "bob", T, T + 900)])))
        >>> "2026-11-20T08:00:00Z/2026-11-20T08:15:00Z" in text
        True
    """
    flat = graph.copy()
    for _, _, data in flat.edges(data=True):
        data["intervals"] = " ".join(
            f"{iso_utc(start)}/{iso_utc(end)}" for start, end in data["intervals"]
        )
    return iter(nx.generate_graphml(flat))


def iso_utc(epoch_s: int) -> str:
    """Epoch seconds as ISO 8601 in UTC with a ``Z``, the form every truyvet API answers in.

    Example:
        >>> iso_utc(0)
        '1970-01-01T00:00:00Z'
    """
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check(venue_id: str, day: date, contact: ContactLike) -> None:
    name = f"{contact.person_a}-{contact.person_b}"
    if contact.venue_id != venue_id:
        raise InvalidGraphInputError(
            f"contact {name} is at venue {contact.venue_id!r}, not {venue_id!r}"
        )
    if contact.person_a == contact.person_b:
        raise InvalidGraphInputError(f"contact {name} joins a person to themselves")
    if contact.start > contact.end:
        raise InvalidGraphInputError(
            f"contact {name} starts at {contact.start}, after its end {contact.end}"
        )
    started = datetime.fromtimestamp(contact.start, UTC).date()
    if started != day:
        raise InvalidGraphInputError(
            f"contact {name} started on {started.isoformat()}, not {day.isoformat()}"
        )


def _clusters(graph: nx.Graph) -> list[list[str]]:
    """Connected components, largest first; ties by their first person, so output is stable."""
    components = [sorted(component) for component in nx.connected_components(graph)]
    return sorted(components, key=lambda c: (-len(c), c[0]))


# The examples' clock: 2026-11-20 08:00 UTC and its day (not exported).
T = 1_795_161_600
DAY = date(2026, 11, 20)
