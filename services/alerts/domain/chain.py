"""The transmission tree of one case, F0 -> F1 -> F2 ..., built from its alerts.

Every alert of degree k > 1 names the degree k-1 person it came through (``via_person``), and
every F1 came from F0 directly, so the alerts of one case form a tree rooted at F0. The tree is
plain nested data, ready for ``GET /v1/cases/{id}/chain``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from services.alerts.domain.errors import InconsistentAlertsError
from services.alerts.domain.model import Alert


@dataclass(frozen=True, slots=True)
class ChainNode:
    """One person in the tree. The root is F0: degree 0, no exposure time, no via.

    ``via`` is the alert's ``via_person`` (None for F1, whose parent is F0 itself).
    """

    person: str
    degree: int
    exposed_at: int | None
    via: str | None
    venue_ids: tuple[str, ...]
    children: tuple[ChainNode, ...]

    def size(self) -> int:
        """Number of persons in this subtree, itself included."""
        return 1 + sum(child.size() for child in self.children)

    def to_dict(self) -> dict[str, object]:
        """The subtree as JSON-ready nested dicts and lists."""
        return {
            "person": self.person,
            "degree": self.degree,
            "exposed_at": self.exposed_at,
            "via": self.via,
            "venue_ids": list(self.venue_ids),
            "children": [child.to_dict() for child in self.children],
        }


def transmission_chain(case_id: str, case_person: str, alerts: Iterable[Alert]) -> ChainNode:
    """The tree of ``case_id``'s alerts under F0 (``case_person``); children by exposure time.

    Example:
        >>> from services.alerts.domain.model import alert_id_for
        >>> def alert(person, degree, exposed_at, via):
        ...     return Alert(alert_id_for("c1", person), "c1", person, degree, exposed_at, via,
        ...                  ("cafe",), ())
        >>> root = transmission_chain("c1", "ann", [alert("cy", 2, 30, "bob"),
        ...                                         alert("bob", 1, 10, None),
        ...                                         alert("dan", 1, 20, None)])
        >>> def show(node, depth=0):
        ...     print("  " * depth + f"{node.person} F{node.degree} at {node.exposed_at}")
        ...     for child in node.children:
        ...         show(child, depth + 1)
        >>> show(root)
        ann F0 at None
          bob F1 at 10
            cy F2 at 30
          dan F1 at 20
    """
    by_person: dict[str, Alert] = {}
    for alert in alerts:
        _check_alert(case_id, case_person, alert)
        if alert.person in by_person:
            raise InconsistentAlertsError(f"case {case_id}: two alerts for {alert.person!r}")
        by_person[alert.person] = alert

    children_of: defaultdict[str, list[Alert]] = defaultdict(list)
    for alert in by_person.values():
        parent = case_person if alert.via_person is None else alert.via_person
        parent_degree = 0 if parent == case_person else _degree_of(by_person, parent, case_id)
        if parent_degree != alert.degree - 1:
            raise InconsistentAlertsError(
                f"case {case_id}: {alert.person!r} is degree {alert.degree} via {parent!r}, "
                f"which is degree {parent_degree}"
            )
        children_of[parent].append(alert)

    def node(alert: Alert) -> ChainNode:
        # Recursion depth is the case's max_degree, a small configured number.
        return ChainNode(
            person=alert.person,
            degree=alert.degree,
            exposed_at=alert.exposed_at,
            via=alert.via_person,
            venue_ids=alert.venue_ids,
            children=_children(alert.person),
        )

    def _children(person: str) -> tuple[ChainNode, ...]:
        ordered = sorted(children_of[person], key=lambda a: (a.exposed_at, a.person))
        return tuple(node(child) for child in ordered)

    return ChainNode(
        person=case_person,
        degree=0,
        exposed_at=None,
        via=None,
        venue_ids=(),
        children=_children(case_person),
    )


def _check_alert(case_id: str, case_person: str, alert: Alert) -> None:
    if alert.case_id != case_id:
        raise InconsistentAlertsError(
            f"alert {alert.alert_id} belongs to case {alert.case_id}, not {case_id}"
        )
    if alert.person == case_person:
        raise InconsistentAlertsError(f"case {case_id}: an alert for F0 {case_person!r} itself")
    if alert.degree < 1:
        raise InconsistentAlertsError(
            f"case {case_id}: alert for {alert.person!r} has degree {alert.degree}; must be >= 1"
        )
    if (alert.degree == 1) != (alert.via_person is None):
        raise InconsistentAlertsError(
            f"case {case_id}: degree-{alert.degree} alert for {alert.person!r} has via "
            f"{alert.via_person!r}; F1 has no via person and every later degree has one"
        )


def _degree_of(by_person: dict[str, Alert], person: str, case_id: str) -> int:
    parent = by_person.get(person)
    if parent is None:
        raise InconsistentAlertsError(
            f"case {case_id}: an alert names {person!r} as via, who has no alert"
        )
    return parent.degree
