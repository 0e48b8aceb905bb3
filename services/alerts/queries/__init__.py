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
from services.alerts.queries.helpers import (
    BadCursorError,
    chain_of,
    decode_cursor,
    encode_cursor,
    every_hour,
    figures_window,
)
from services.alerts.queries.records import (
    LAST_STORABLE_S,
    AlertFilter,
    AlertPage,
    AlertRecord,
    CaseRecord,
    CaseStatus,
    DayCases,
    HeadlineFigures,
    HourScans,
    KindAlerts,
    OpenCase,
    OpenCases,
    PageKey,
    VenueScans,
)
from services.alerts.queries.sql import (
    BUSIEST_VENUES,
    EXPOSURES_SHOWN,
    FIGURES_HOURS,
    MAX_GRAPH_CONTACTS,
    MAX_PAGE_SIZE,
    OPEN_CASES_LISTED,
    PAGE_SIZE,
)

__all__ = [
    "BUSIEST_VENUES",
    "EXPOSURES_SHOWN",
    "FIGURES_HOURS",
    "LAST_STORABLE_S",
    "MAX_GRAPH_CONTACTS",
    "MAX_PAGE_SIZE",
    "OPEN_CASES_LISTED",
    "PAGE_SIZE",
    "AlertFilter",
    "AlertPage",
    "AlertRecord",
    "AlertsQueries",
    "BadCursorError",
    "CaseRecord",
    "CaseStatus",
    "ClickHouseReads",
    "CorruptRowError",
    "DayCases",
    "HeadlineFigures",
    "HourScans",
    "KindAlerts",
    "OpenCase",
    "OpenCases",
    "PageKey",
    "StoreUnavailableError",
    "TooManyContactsError",
    "VenueScans",
    "chain_of",
    "decode_cursor",
    "encode_cursor",
    "every_hour",
    "figures_window",
]
