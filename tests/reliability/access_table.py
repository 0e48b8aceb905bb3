# ruff: noqa: E501 - the table reads best one endpoint a line
"""Who may call what: every role against every endpoint of both HTTP services, with the status
each must get. ``test_access.py`` is parametrized from :data:`ACCESS`, and
``docs/reliability.md`` shows :func:`markdown_table` (a test keeps the two equal).

Roles: ``none`` (no ``Authorization``), ``bogus`` (a well-formed but unknown token), ``venue``
(venue A's key, on venue A), ``other-venue`` (venue B's key, on venue A), and the ``dashboard``,
``authority``, ``notifier`` and ``admin`` tokens. ``{venue}`` is venue A, ``{case}`` a reported
case, ``{alert}`` its alert, ``{event}`` a declared exposure event; a venue graph is asked for the day and case of that alert.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("none", "bogus", "venue", "other-venue", "dashboard", "authority", "notifier",
         "admin")


@dataclass(frozen=True)
class Endpoint:
    service: str  # "ingest" or "alerts"
    method: str
    path: str  # with {venue} / {case} placeholders
    expected: tuple[int, ...]  # one status per role of ROLES

    @property
    def label(self) -> str:
        return f"{self.service} {self.method} {self.path}"

    def status_for(self, role: str) -> int:
        return self.expected[ROLES.index(role)]


def _row(service: str, method: str, path: str, *statuses: int) -> Endpoint:
    assert len(statuses) == len(ROLES), path
    return Endpoint(service, method, path, statuses)


# service, method, path; then: none bogus venue other-venue dash auth notifier admin
ACCESS: tuple[Endpoint, ...] = (
    _row("ingest", "GET", "/healthz",                         200, 200, 200, 200, 200, 200, 200, 200),
    _row("ingest", "GET", "/readyz",                           200, 200, 200, 200, 200, 200, 200, 200),
    _row("ingest", "GET", "/metrics",                          200, 200, 200, 200, 200, 200, 200, 200),
    _row("ingest", "GET", "/openapi.json",                    200, 200, 200, 200, 200, 200, 200, 200),
    _row("ingest", "POST", "/v1/venues",                      401, 401, 403, 403, 403, 403, 403, 201),
    _row("ingest", "GET", "/v1/venues/{venue}",               401, 401, 200, 403, 200, 403, 403, 200),
    _row("ingest", "GET", "/v1/venues/{venue}/qr.svg",        401, 401, 200, 403, 200, 403, 403, 200),
    _row("ingest", "GET", "/v1/venues/{venue}/qr.png",        401, 401, 200, 403, 200, 403, 403, 200),
    _row("ingest", "GET", "/v1/venues/{venue}/poster.svg",    401, 401, 200, 403, 200, 403, 403, 200),
    _row("ingest", "GET", "/version",                         200, 200, 200, 200, 200, 200, 200, 200),
    _row("ingest", "POST", "/v1/qr/verify",                   200, 200, 200, 200, 200, 200, 200, 200),
    _row("ingest", "POST", "/v1/scans",                       401, 401, 202, 403, 403, 403, 403, 403),
    _row("ingest", "POST", "/v1/cases",                       401, 401, 403, 403, 403, 202, 403, 403),
    _row("ingest", "DELETE", "/v1/cases/{case}",              401, 401, 403, 403, 403, 202, 403, 403),
    _row("ingest", "POST", "/v1/people/status",               401, 401, 403, 403, 403, 200, 403, 403),
    _row("ingest", "POST", "/v1/exposure-events",             401, 401, 403, 403, 403, 202, 403, 403),
    _row("ingest", "DELETE", "/v1/exposure-events/{event}",   401, 401, 403, 403, 403, 202, 403, 403),
    _row("ingest", "POST", "/v1/tokens",                      401, 401, 403, 403, 403, 403, 403, 201),
    _row("alerts", "GET", "/healthz",                         200, 200, 200, 200, 200, 200, 200, 200),
    _row("alerts", "GET", "/readyz",                           200, 200, 200, 200, 200, 200, 200, 200),
    _row("alerts", "GET", "/metrics",                          200, 200, 200, 200, 200, 200, 200, 200),
    _row("alerts", "GET", "/",                                200, 200, 200, 200, 200, 200, 200, 200),
    _row("alerts", "GET", "/openapi.json",                    200, 200, 200, 200, 200, 200, 200, 200),
    _row("alerts", "GET", "/v1/whoami",                       401, 401, 200, 200, 200, 200, 200, 200),
    _row("alerts", "GET", "/v1/cases/{case}/alerts",          401, 401, 403, 403, 403, 200, 403, 403),
    _row("alerts", "GET", "/v1/cases/{case}/alerts/{alert}",  401, 401, 403, 403, 403, 200, 403, 403),
    _row("alerts", "PATCH", "/v1/cases/{case}/alerts/{alert}", 401, 401, 403, 403, 403, 200, 403, 403),
    _row("alerts", "GET", "/v1/cases/{case}/alerts/{alert}/follow-up", 401, 401, 403, 403, 403, 200, 403, 403),
    _row("alerts", "GET", "/v1/cases/{case}/chain",           401, 401, 403, 403, 403, 200, 403, 403),
    _row("alerts", "GET", "/v1/cases/{case}/contacts.csv",    401, 401, 403, 403, 403, 200, 403, 403),
    _row("alerts", "GET", "/v1/cases/{case}/contacts.json",   401, 401, 403, 403, 403, 200, 403, 403),
    _row("alerts", "POST", "/v1/pseudonyms/status",           401, 401, 403, 403, 403, 200, 403, 403),
    _row("alerts", "GET", "/v1/exposure-events/{event}/alerts", 401, 401, 403, 403, 403, 200, 403, 403),
    _row("alerts", "GET", "/v1/venues/{venue}/graph",         401, 401, 403, 403, 403, 200, 403, 403),
    _row("alerts", "GET", "/v1/venues/{venue}/graph.graphml", 401, 401, 403, 403, 403, 200, 403, 403),
    _row("alerts", "GET", "/v1/alerts/stream",                401, 401, 403, 403, 403, 403, 200, 403),
    _row("alerts", "GET", "/v1/figures",                      401, 401, 403, 403, 200, 200, 403, 200),
    _row("alerts", "GET", "/v1/follow-up/funnel",             401, 401, 403, 403, 200, 200, 403, 200),
    _row("alerts", "GET", "/v1/venue-alerts",                 401, 401, 403, 403, 200, 200, 403, 200),
    _row("alerts", "GET", "/v1/venues/{venue}/visitors",      401, 401, 200, 403, 200, 200, 403, 200),
    _row("alerts", "GET", "/version",                         200, 200, 200, 200, 200, 200, 200, 200),
)  # fmt: skip


def markdown_table() -> str:
    """The table as Markdown, one row per endpoint, one column per role."""
    lines = [
        "| service | endpoint | " + " | ".join(ROLES) + " |",
        "|---|---|" + "---|" * len(ROLES),
    ]
    for e in ACCESS:
        lines.append(f"| {e.service} | `{e.method} {e.path}` | "
                     + " | ".join(str(s) for s in e.expected) + " |")
    return "\n".join(lines)
