"""The tracer's pure domain: scans → visits → contact edges, incrementally (rules 1-4, 10).

Plain values and functions over them; nothing here does I/O or imports a client library.
"""

from services.tracer.domain.delta import Delta
from services.tracer.domain.errors import (
    DomainError,
    InvalidRulesError,
    InvalidScanError,
)
from services.tracer.domain.model import (
    Contact,
    Direction,
    Scan,
    VenueRules,
    Visit,
    contact_id_for,
    visit_id_for,
)
from services.tracer.domain.overlap import VisitIndex, contacts_among, contacts_with
from services.tracer.domain.state import RulesLookup, TracerState, VenueState
from services.tracer.domain.visits import build_visits, dedup_by_event_id

__all__ = [
    "Contact",
    "Delta",
    "Direction",
    "DomainError",
    "InvalidRulesError",
    "InvalidScanError",
    "RulesLookup",
    "Scan",
    "TracerState",
    "VenueRules",
    "VenueState",
    "Visit",
    "VisitIndex",
    "build_visits",
    "contact_id_for",
    "contacts_among",
    "contacts_with",
    "dedup_by_event_id",
    "visit_id_for",
]
