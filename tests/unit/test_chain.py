"""The transmission tree built from a case's alerts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.alerts.domain.chain import ChainNode, transmission_chain
from services.alerts.domain.errors import InconsistentAlertsError
from services.alerts.domain.exposure import trace_case
from services.alerts.domain.model import Alert, Case, ContactEdge, alert_id_for

H = 3600


def alert(person: str, degree: int, exposed_at: int, via: str | None, case_id: str = "c1") -> Alert:
    return Alert(
        alert_id=alert_id_for(case_id, person),
        case_id=case_id,
        person=person,
        degree=degree,
        exposed_at=exposed_at,
        via_person=via,
        venue_ids=(f"venue-of-{person}",),
        exposures=(),
    )


def shape(node: ChainNode) -> tuple:
    return (node.person, node.degree, node.exposed_at, [shape(c) for c in node.children])


def test_chain_nests_each_person_under_their_via_ordered_by_exposure() -> None:
    root = transmission_chain(
        "c1",
        "f0",
        [
            alert("d", 2, 70 * H, "b"),
            alert("b", 1, 65 * H, None),
            alert("a", 1, 60 * H, None),
            alert("c", 2, 62 * H, "a"),
            alert("e", 2, 66 * H, "b"),
            alert("f", 3, 71 * H, "d"),
        ],
    )
    assert shape(root) == (
        "f0",
        0,
        None,
        [
            ("a", 1, 60 * H, [("c", 2, 62 * H, [])]),
            ("b", 1, 65 * H, [("e", 2, 66 * H, []), ("d", 2, 70 * H, [("f", 3, 71 * H, [])])]),
        ],
    )
    assert root.size() == 7


def test_chain_as_plain_json_data() -> None:
    root = transmission_chain("c1", "f0", [alert("a", 1, 60, None), alert("b", 2, 61, "a")])
    assert root.to_dict() == {
        "person": "f0",
        "degree": 0,
        "exposed_at": None,
        "via": None,
        "venue_ids": [],
        "children": [
            {
                "person": "a",
                "degree": 1,
                "exposed_at": 60,
                "via": None,
                "venue_ids": ["venue-of-a"],
                "children": [
                    {
                        "person": "b",
                        "degree": 2,
                        "exposed_at": 61,
                        "via": "a",
                        "venue_ids": ["venue-of-b"],
                        "children": [],
                    }
                ],
            }
        ],
    }


def test_chain_of_a_case_without_alerts_is_f0_alone() -> None:
    assert transmission_chain("c1", "f0", []) == ChainNode("f0", 0, None, None, (), ())


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        ([alert("a", 1, 60, None, case_id="c2")], "belongs to case c2, not c1"),
        ([alert("f0", 1, 60, None)], "alert for F0 'f0' itself"),
        ([alert("a", 1, 60, None), alert("a", 1, 61, None)], "two alerts for 'a'"),
        ([alert("b", 2, 61, "ghost")], "names 'ghost' as via, who has no alert"),
        ([alert("a", 1, 60, None), alert("b", 3, 61, "a")], "degree 3 via 'a', which is degree 1"),
        ([alert("b", 2, 61, None)], "has via None"),
        ([alert("a", 1, 60, "f0")], "has via 'f0'"),
        ([alert("a", 0, 60, None)], "has degree 0"),
    ],
)
def test_chain_refuses_alerts_that_are_not_one_tree(alerts: list[Alert], message: str) -> None:
    with pytest.raises(InconsistentAlertsError, match=message):
        transmission_chain("c1", "f0", alerts)


PERSONS = [f"p{i}" for i in range(7)]


@st.composite
def traced(draw: st.DrawFn) -> tuple[Case, list[Alert]]:
    case = Case(case_id="c", person="p0", onset_at=100 * H, reported_at=101 * H)
    edges = []
    for i in range(draw(st.integers(min_value=0, max_value=15))):
        a, b = draw(st.lists(st.sampled_from(PERSONS), min_size=2, max_size=2, unique=True))
        start = draw(st.integers(min_value=40, max_value=110)) * H
        edges.append(ContactEdge(f"k{i}", "v", a, b, start, start + H))
    max_degree = draw(st.integers(min_value=1, max_value=4))
    return case, trace_case(case, lambda persons, since, until: edges, max_degree)


def _nodes(node: ChainNode) -> list[ChainNode]:
    return [node] + [n for child in node.children for n in _nodes(child)]


@settings(max_examples=150, deadline=None)
@given(traced())
def test_every_traced_alert_appears_once_under_its_via(case_alerts: tuple) -> None:
    case, alerts = case_alerts
    root = transmission_chain(case.case_id, case.person, alerts)
    nodes = _nodes(root)
    assert sorted(n.person for n in nodes[1:]) == sorted(a.person for a in alerts)
    for parent in nodes:
        for child in parent.children:
            assert child.degree == parent.degree + 1
            assert child.via == (None if parent.degree == 0 else parent.person)
