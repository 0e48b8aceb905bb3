"""What to publish when a case's alerts are recomputed (rule 9) or the case is withdrawn (rule 8).

Alerts are keyed by their deterministic ``alert_id``, so comparing the stored set with a fresh
trace tells the service exactly which alerts to (re)publish and which to retract; publishing an
unchanged alert again would only make consumers re-notify people.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from services.alerts.domain.errors import InconsistentAlertsError
from services.alerts.domain.model import Alert


class AlertDiff(NamedTuple):
    """Alerts to publish (new or changed) and alerts to retract (no longer exposed)."""

    upserts: tuple[Alert, ...]
    retractions: tuple[Alert, ...]


def _alert_order(alert: Alert) -> tuple[int, int, str]:
    return (alert.degree, alert.exposed_at, alert.person)


def diff_alerts(old: Mapping[str, Alert], new: Iterable[Alert] | Mapping[str, Alert]) -> AlertDiff:
    """Compare one case's stored alerts (by alert id) with its freshly traced ones.

    A withdrawn case is ``diff_alerts(stored, [])``: every stored alert is retracted.

    Example:
        >>> from services.alerts.domain.model import alert_id_for
        >>> def alert(person, exposed_at):
        ...     return Alert(alert_id_for("c1", person), "c1", person, 1, exposed_at, None, (), ())
        >>> old = {a.alert_id: a for a in [alert("bob", 10), alert("cy", 20), alert("dan", 30)]}
        >>> upserts, retractions = diff_alerts(old, [alert("bob", 10), alert("cy", 15),
        ...                                           alert("eve", 40)])
        >>> [(a.person, a.exposed_at) for a in upserts], [a.person for a in retractions]
        ([('cy', 15), ('eve', 40)], ['dan'])
    """
    fresh_alerts = list(new.values() if isinstance(new, Mapping) else new)
    for alert_id, alert in old.items():
        if alert_id != alert.alert_id:
            raise InconsistentAlertsError(
                f"stored alert keyed {alert_id} has alert_id {alert.alert_id}"
            )
    fresh: dict[str, Alert] = {}
    for alert in fresh_alerts:
        if fresh.setdefault(alert.alert_id, alert) != alert:
            raise InconsistentAlertsError(f"alert {alert.alert_id} appears twice, differently")
    # One diff is one case: mixing cases would retract another case's alerts.
    case_ids = {a.case_id for a in old.values()} | {a.case_id for a in fresh.values()}
    if len(case_ids) > 1:
        raise InconsistentAlertsError(
            f"alerts of several cases in one diff: {', '.join(sorted(case_ids))}"
        )
    upserts = [a for alert_id, a in fresh.items() if old.get(alert_id) != a]
    retractions = [a for alert_id, a in old.items() if alert_id not in fresh]
    return AlertDiff(
        upserts=tuple(sorted(upserts, key=_alert_order)),
        retractions=tuple(sorted(retractions, key=_alert_order)),
    )
