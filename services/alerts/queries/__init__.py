"""The alerts API's reads of ClickHouse, by concern: ``sql`` (the query text), ``records`` (what
a read returns), ``client`` (the connections that run them) and ``helpers`` (pure functions over
rows and records). Nothing above this package sees SQL.
"""

from services.alerts.queries.client import (
    AlertsQueries,
    ClickHouseReads,
    CorruptRowError,
    StoreUnavailableError,
    TooManyContactsError,
)
from services.alerts.queries.helpers import chain_of, every_hour, figures_window
from services.alerts.queries.records import (
    AlertRecord,
    CaseRecord,
    CaseStatus,
    HeadlineFigures,
    HourScans,
    OpenCase,
    OpenCases,
    VenueScans,
)
from services.alerts.queries.sql import (
    BUSIEST_VENUES,
    FIGURES_HOURS,
    MAX_GRAPH_CONTACTS,
    OPEN_CASES_LISTED,
)

__all__ = [
    "BUSIEST_VENUES",
    "FIGURES_HOURS",
    "MAX_GRAPH_CONTACTS",
    "OPEN_CASES_LISTED",
    "AlertRecord",
    "AlertsQueries",
    "CaseRecord",
    "CaseStatus",
    "ClickHouseReads",
    "CorruptRowError",
    "HeadlineFigures",
    "HourScans",
    "OpenCase",
    "OpenCases",
    "StoreUnavailableError",
    "TooManyContactsError",
    "VenueScans",
    "chain_of",
    "every_hour",
    "figures_window",
]
