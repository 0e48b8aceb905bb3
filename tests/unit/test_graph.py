"""The venue-day contact graph and its figures (services/alerts/domain/graph.py)."""

from __future__ import annotations

import json
import random
from datetime import date

import networkx as nx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.alerts.domain.graph import (
    MOST_CONNECTED,
    ConnectedPerson,
    Edge,
    InvalidGraphInputError,
    contact_graph,
    graph_figures,
    graphml,
    node_link,
)
from services.tracer.domain import Contact

DAY = date(2026, 11, 20)
T = 1_795_161_600  # 2026-11-20 08:00:00 UTC
M = 60


def edge(a: str, b: str, start_min: int, end_min: int, venue: str = "cafe") -> Edge:
    return Edge(venue, a, b, T + start_min * M, T + end_min * M)


def test_contacts_of_one_pair_add_up_on_one_edge_with_their_intervals() -> None:
    graph = contact_graph("cafe", DAY, [
        edge("ann", "bob", 60, 90),
        edge("bob", "ann", 0, 20),  # the same pair, the other way round
        edge("ann", "bob", 60, 90),  # a replayed row: the same contact, not a second one
    ])
    assert graph.number_of_nodes() == 2 and graph.number_of_edges() == 1
    data = graph.edges["ann", "bob"]
    assert data["weight"] == 50 * M
    assert data["contacts"] == 2
    assert data["intervals"] == [(T, T + 20 * M), (T + 60 * M, T + 90 * M)]
    assert graph.nodes["ann"] == {"contacts": 1, "exposure_s": 50 * M, "cluster": 0}


def test_figures_count_people_contacts_clusters_and_exposure() -> None:
    graph = contact_graph("cafe", DAY, [
        edge("ann", "bob", 0, 30),
        edge("ann", "bob", 40, 55),
        edge("bob", "cy", 0, 20),
        edge("dan", "eve", 0, 15),
    ])
    figures = graph_figures(graph)
    assert figures.people == 5
    assert figures.contacts == 4
    assert figures.pairs == 3
    assert figures.clusters == 2
    assert figures.largest_cluster == 3
    assert figures.total_exposure_s == (30 + 15 + 20 + 15) * M
    assert figures.most_connected[0] == ConnectedPerson("bob", 2, 65 * M)
    assert [p.person for p in figures.most_connected] == ["bob", "ann", "cy", "dan", "eve"]
    assert graph.nodes["dan"]["cluster"] == 1 and graph.nodes["cy"]["cluster"] == 0


def test_most_connected_ranks_by_contacts_then_time_and_keeps_ten() -> None:
    # A hub with 12 neighbours; neighbour k spends k+1 minutes with it; one pair of neighbours
    # also met, which gives both of them a second contact.
    contacts = [edge("hub", f"p{k:02d}", 0, k + 1) for k in range(12)]
    contacts.append(edge("p00", "p01", 30, 31))
    figures = graph_figures(contact_graph("cafe", DAY, contacts))
    ranked = figures.most_connected
    assert len(ranked) == MOST_CONNECTED
    assert ranked[0].person == "hub" and ranked[0].contacts == 12
    # p01 (2 contacts, 3 min) before p00 (2 contacts, 2 min), then by time with the hub.
    assert [p.person for p in ranked[1:4]] == ["p01", "p00", "p11"]


def test_an_empty_venue_day_has_zero_figures() -> None:
    figures = graph_figures(contact_graph("cafe", DAY, []))
    assert figures.to_dict() == {"people": 0, "contacts": 0, "pairs": 0, "clusters": 0,
                                 "largest_cluster": 0, "total_exposure_s": 0,
                                 "most_connected": []}


def test_the_tracers_contacts_are_accepted_as_they_are() -> None:
    contact = Contact("cafe", "ann", "bob", T, T + 900)
    assert graph_figures(contact_graph("cafe", DAY, [contact])).total_exposure_s == 900


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (edge("ann", "bob", 0, 30, venue="bar"), "at venue 'bar', not 'cafe'"),
        (edge("ann", "ann", 0, 30), "joins a person to themselves"),
        (edge("ann", "bob", 30, 0), "after its end"),
        (edge("ann", "bob", -9 * 60, -8 * 60), "started on 2026-11-19, not 2026-11-20"),
    ],
)
def test_edges_of_another_venue_or_day_or_malformed_are_refused(bad: Edge, message: str) -> None:
    with pytest.raises(InvalidGraphInputError, match=message):
        contact_graph("cafe", DAY, [edge("cy", "dan", 0, 30), bad])


def test_node_link_json_has_links_iso_intervals_and_round_trips() -> None:
    graph = contact_graph("cafe", DAY, [edge("ann", "bob", 0, 15), edge("bob", "cy", 5, 25)])
    data = json.loads(json.dumps(node_link(graph)))  # JSON-ready as it is
    assert set(data) == {"directed", "multigraph", "graph", "nodes", "links"}
    assert data["graph"] == {"venue_id": "cafe", "day": "2026-11-20"}
    link = next(x for x in data["links"] if {x["source"], x["target"]} == {"ann", "bob"})
    assert link["weight"] == 900 and link["contacts"] == 1
    assert link["intervals"] == [{"start": "2026-11-20T08:00:00Z", "end": "2026-11-20T08:15:00Z"}]
    back = nx.node_link_graph(data, edges="links")
    assert sorted(back.edges) == sorted(graph.edges)
    # node_link does not alter the graph it renders
    assert graph.edges["ann", "bob"]["intervals"] == [(T, T + 900)]


def test_graphml_parses_back_with_intervals_as_iso_strings() -> None:
    graph = contact_graph("cafe", DAY, [edge("ann", "bob", 0, 15), edge("ann", "bob", 30, 40)])
    parsed = nx.parse_graphml("\n".join(graphml(graph)))
    assert set(parsed.nodes) == {"ann", "bob"}
    data = parsed.edges["ann", "bob"]
    assert data["weight"] == 25 * M
    assert data["intervals"] == ("2026-11-20T08:00:00Z/2026-11-20T08:15:00Z "
                                 "2026-11-20T08:30:00Z/2026-11-20T08:40:00Z")
    assert parsed.graph["venue_id"] == "cafe"
    assert graph.edges["ann", "bob"]["intervals"] == [(T, T + 900), (T + 1800, T + 2400)]


people = st.sampled_from(["ann", "bob", "cy", "dan", "eve", "fay"])


@given(st.lists(st.tuples(people, people, st.integers(0, 600), st.integers(0, 120)),
                max_size=25), st.randoms())
def test_figures_do_not_depend_on_the_order_of_the_edges(
    raw: list[tuple[str, str, int, int]], rnd: random.Random
) -> None:
    contacts = [edge(a, b, s, s + d) for a, b, s, d in raw if a != b]
    shuffled = list(contacts)
    rnd.shuffle(shuffled)
    assert graph_figures(contact_graph("cafe", DAY, contacts)) == graph_figures(
        contact_graph("cafe", DAY, shuffled)
    )
