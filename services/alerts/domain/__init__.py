"""The alerts service's pure domain: who a case exposed, and how (rules 5-9).

Plain values and functions over them; nothing here does I/O. The service reads contacts from
ClickHouse for each :class:`Frontier` of an :class:`ExposureSearch` and publishes the alerts.
"""

from services.alerts.domain.alert_diff import AlertDiff, diff_alerts
from services.alerts.domain.chain import ChainNode, transmission_chain
from services.alerts.domain.engine import AlertChanges, AlertEngine, OpenCase
from services.alerts.domain.errors import (
    DomainError,
    InconsistentAlertsError,
    InvalidCaseError,
    InvalidContactEdgeError,
    SearchStateError,
)
from services.alerts.domain.exposure import EdgesOf, ExposureSearch, Frontier, trace_case
from services.alerts.domain.model import Alert, Case, ContactEdge, Exposure, alert_id_for
from services.alerts.domain.window import INFECTIOUS_BEFORE_ONSET_S, InfectiousWindow

__all__ = [
    "INFECTIOUS_BEFORE_ONSET_S",
    "Alert",
    "AlertChanges",
    "AlertDiff",
    "AlertEngine",
    "Case",
    "ChainNode",
    "ContactEdge",
    "DomainError",
    "EdgesOf",
    "Exposure",
    "ExposureSearch",
    "Frontier",
    "InconsistentAlertsError",
    "InfectiousWindow",
    "InvalidCaseError",
    "InvalidContactEdgeError",
    "OpenCase",
    "SearchStateError",
    "alert_id_for",
    "diff_alerts",
    "trace_case",
    "transmission_chain",
]
