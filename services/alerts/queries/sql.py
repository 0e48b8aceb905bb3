"""The SQL text of every read, and the limits it is run with.

The derived tables are ReplacingMergeTree(version) with a ``deleted`` flag (see
``deploy/clickhouse/migrations/0001_init.sql``), so every read takes the ``FINAL`` rows of its
keys and then drops the ``deleted`` ones: a row replayed after a crash is seen once and a
retracted one not at all, whatever ClickHouse has merged so far. Every query runs on ClickHouse
18.16 and on current releases (``tests/integration/test_sql_current_clickhouse.py``).
"""

MAX_GRAPH_CONTACTS = 100_000
"""Most contact edges one venue-day graph is built from: beyond it the node-link JSON would be
tens of megabytes and the graph gigabytes in memory, which no dashboard can show anyway."""

CASE = """
SELECT case_id, person_id, status, onset_at, sampled_at, reported_at, isolated_at, withdrawn_at
FROM cases FINAL
WHERE case_id = %(case_id)s
ORDER BY version DESC
LIMIT 1
"""

# Key conditions inside FINAL, the `deleted` flag outside it: a filter on a non-key column
# that ClickHouse moved before the merge (PREWHERE) could keep a row its retraction replaced.
ALERTS = """
SELECT alert_id, case_id, person_id, degree, exposed_at, via_person_id, venue_ids, exposures,
       exposure_count, created_at, risk_score, risk_level
FROM (
    SELECT alert_id, case_id, person_id, degree, exposed_at, via_person_id, venue_ids,
           exposures, exposure_count, created_at, deleted, risk_score, risk_level
    FROM alerts FINAL
    WHERE case_id = %(case_id)s
)
WHERE deleted = 0
ORDER BY degree, exposed_at, alert_id
"""

ALERT = """
SELECT alert_id, case_id, person_id, degree, exposed_at, via_person_id, venue_ids, exposures,
       exposure_count, created_at, risk_score, risk_level
FROM (
    SELECT alert_id, case_id, person_id, degree, exposed_at, via_person_id, venue_ids,
           exposures, exposure_count, created_at, deleted, risk_score, risk_level
    FROM alerts FINAL
    WHERE case_id = %(case_id)s AND alert_id = %(alert_id)s
)
WHERE deleted = 0
"""

PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
EXPOSURES_SHOWN = 5
"""Exposures a page's alert carries (the earliest); the alert's own endpoint has them all."""

CHAIN_ALERTS = """
SELECT alert_id, case_id, person_id, degree, exposed_at, via_person_id, venue_ids
FROM (
    SELECT alert_id, case_id, person_id, degree, exposed_at, via_person_id, venue_ids, deleted
    FROM alerts FINAL
    WHERE case_id = %(case_id)s
)
WHERE deleted = 0
LIMIT %(limit)s
"""

MAX_CHAIN_ALERTS = 1_000_000
"""Alerts one chain is built from: far beyond any case (max_degree 6 of a dense city)."""

# One page of a case's alerts in (degree, exposed_at, alert_id) order, after a cursor's key.
# It reads `exposures_head` (the first few, 0007), never `exposures`: that is most of an
# alert's bytes (tens of kilobytes for an F2 of a dense venue). The alert id orders ties: it is
# per case (rule 8), so a cursor names no person. `after_degree = 0` starts at the first alert
# (degrees begin at 1).
ALERT_PAGE = """
SELECT alert_id, case_id, person_id, degree, exposed_at, via_person_id, venue_ids,
       exposures_head, exposure_count, created_at, risk_score, risk_level
FROM (
    SELECT alert_id, case_id, person_id, degree, exposed_at, via_person_id, venue_ids,
           exposures_head, exposure_count, created_at, deleted, risk_score, risk_level
    FROM alerts FINAL
    WHERE case_id = %(case_id)s
)
WHERE deleted = 0
  AND degree >= %(degree_min)s AND degree <= %(degree_max)s
  AND toUInt32(exposed_at) >= %(since)s AND toUInt32(exposed_at) < %(until)s
  AND (degree > %(after_degree)s
       OR (degree = %(after_degree)s
           AND (toUInt32(exposed_at) > %(after_at)s
                OR (toUInt32(exposed_at) = %(after_at)s AND alert_id > %(after_id)s))))
ORDER BY degree, exposed_at, alert_id
LIMIT %(limit)s
"""

# The same page in risk order, riskiest first (then as ALERT_PAGE). The score is kept to
# hundredths (services/alerts/domain/risk.py), so the cursor holds it exactly as an integer of
# hundredths. `after_risk` above every score starts at the first alert.
ALERT_PAGE_BY_RISK = """
SELECT alert_id, case_id, person_id, degree, exposed_at, via_person_id, venue_ids,
       exposures_head, exposure_count, created_at, risk_score, risk_level
FROM (
    SELECT alert_id, case_id, person_id, degree, exposed_at, via_person_id, venue_ids,
           exposures_head, exposure_count, created_at, deleted, risk_score, risk_level,
           toInt64(round(risk_score * 100)) AS risk_hundredths
    FROM alerts FINAL
    WHERE case_id = %(case_id)s
)
WHERE deleted = 0
  AND degree >= %(degree_min)s AND degree <= %(degree_max)s
  AND toUInt32(exposed_at) >= %(since)s AND toUInt32(exposed_at) < %(until)s
  AND (risk_hundredths < %(after_risk)s
       OR (risk_hundredths = %(after_risk)s
           AND (degree > %(after_degree)s
                OR (degree = %(after_degree)s
                    AND (toUInt32(exposed_at) > %(after_at)s
                         OR (toUInt32(exposed_at) = %(after_at)s
                             AND alert_id > %(after_id)s))))))
ORDER BY risk_hundredths DESC, degree, exposed_at, alert_id
LIMIT %(limit)s
"""

# `venue_id = … AND day = …` is the primary-key range read the contacts table is ordered for.
CONTACTS = """
SELECT venue_id, person_a, person_b, toUInt32(started_at), toUInt32(ended_at)
FROM (
    SELECT venue_id, person_a, person_b, started_at, ended_at, contact_id, deleted
    FROM contacts FINAL
    WHERE venue_id = %(venue_id)s AND day = %(day)s
)
WHERE deleted = 0
ORDER BY started_at, contact_id
LIMIT %(limit)s
"""

FIGURES_HOURS = 24
"""The headline figures cover this many UTC hours, the current (partial) one included."""

BUSIEST_VENUES = 10
OPEN_CASES_LISTED = 100
"""Open cases listed one by one (newest first); all of them are counted."""

# The figures read the views of 0002_dashboard_views.sql, which Grafana reads too. `day` first:
# pushed into the view (the SETTINGS clause, the default of current releases) it prunes whole
# day partitions of `scans`, so a figure reads one or two days, not the retention horizon.
SCANS_PER_HOUR = """
SELECT toUInt32(hour), scans, people
FROM scans_per_hour
WHERE day >= %(since_day)s AND hour >= toDateTime(%(since)s)
ORDER BY hour
SETTINGS enable_optimize_predicate_expression = 1
"""

# One venue's hours, for its own operator: the same view, the venue's rows only.
VENUE_HOURS = """
SELECT toUInt32(hour), scans, people
FROM venue_activity
WHERE day >= %(since_day)s AND day <= %(until_day)s AND venue_id = %(venue_id)s
    AND hour >= toDateTime(%(since)s) AND hour < toDateTime(%(until)s)
ORDER BY hour
SETTINGS enable_optimize_predicate_expression = 1
"""

BUSIEST_VENUES_SQL = """
SELECT venue_id, if(name = '', venue_id, name), scans
FROM
(
    SELECT venue_id, sum(scans) AS scans
    FROM venue_activity
    WHERE day >= %(since_day)s AND hour >= toDateTime(%(since)s)
    GROUP BY venue_id
    ORDER BY scans DESC, venue_id
    LIMIT %(limit)s
) AS busiest
ANY LEFT JOIN venue_names AS names USING venue_id
ORDER BY scans DESC, venue_id
SETTINGS enable_optimize_predicate_expression = 1
"""

# "Open": the latest version of the case is not a withdrawal, and it was reported within the
# retention horizon — the cases the alerts worker still re-traces as late scans arrive.
OPEN_CASES_TOTALS = """
SELECT count(), sum(f1), sum(f2), sum(beyond_f2)
FROM case_alert_counts
WHERE status = 'reported' AND reported_at >= toDateTime(%(open_since)s)
"""

OPEN_CASES = """
SELECT case_id, person_id, toUInt32(reported_at), f1, f2, beyond_f2
FROM case_alert_counts
WHERE status = 'reported' AND reported_at >= toDateTime(%(open_since)s)
ORDER BY reported_at DESC, case_id
LIMIT %(limit)s
"""


# Open cases and their current alerts by the UTC day the case was reported.
CASES_BY_DAY = """
SELECT toDate(reported_at) AS day, count(), sum(f1), sum(f2), sum(beyond_f2)
FROM case_alert_counts
WHERE status = 'reported' AND reported_at >= toDateTime(%(open_since)s)
GROUP BY day
ORDER BY day
"""

# Current alerts of open cases by the kind of venue they were exposed at and degree: an alert
# counts once for each kind among its venues. Recent alerts only (the open cases' horizon).
ALERTS_BY_VENUE_KIND = """
SELECT if(kind = '', 'unknown', kind) AS venue_kind, degree, uniqExact(case_id, alert_id)
FROM
(
    SELECT case_id, alert_id, degree, venue_id
    FROM
    (
        SELECT case_id, alert_id, degree, venue_ids, created_at, deleted
        FROM alerts FINAL
    )
    ARRAY JOIN venue_ids AS venue_id
    WHERE deleted = 0 AND created_at >= toDateTime(%(open_since)s)
) AS exposed
ANY LEFT JOIN venue_names USING venue_id
GROUP BY venue_kind, degree
ORDER BY venue_kind, degree
"""

INSERT_AUDIT = """
INSERT INTO audit (day, at, audit_id, token_id, role, what, case_id, subject, people) VALUES
"""

AUDIT_SINCE = """
SELECT at, token_id, role, what, case_id, subject, people
FROM audit
WHERE day >= toDate(toDateTime(%(since)s)) AND at >= toDateTime(%(since)s)
ORDER BY at, audit_id
LIMIT %(limit)s
"""

AUDIT_PARTITIONS = """
SELECT DISTINCT partition FROM system.parts
WHERE database = %(db)s AND table = 'audit' AND active
"""

# Rule 10's audit period: cases and alerts older than it go, as mutations (they are not
# partitioned by day); the audit log's day partitions are dropped whole.
PURGE_CASES = "ALTER TABLE cases DELETE WHERE reported_at < toDateTime(%(cutoff)s)"
PURGE_ALERTS = "ALTER TABLE alerts DELETE WHERE created_at < toDateTime(%(cutoff)s)"

# ---------------------------------------------------------------- contact list and follow-up

# A case's current alerts as its contact list shows them: no exposures, creation time kept.
CONTACT_ALERTS = """
SELECT alert_id, person_id, degree, toUInt32(exposed_at), via_person_id, venue_ids,
       toUInt32(created_at), risk_level
FROM (
    SELECT alert_id, person_id, degree, exposed_at, via_person_id, venue_ids, created_at,
           deleted, risk_level
    FROM alerts FINAL
    WHERE case_id = %(case_id)s
)
WHERE deleted = 0
ORDER BY degree, exposed_at, alert_id
LIMIT %(limit)s
"""

MAX_CONTACT_LIST = 200_000
"""Alerts one contact list holds: far beyond any case, bounded so one answer stays sane."""

# The newest sealed copy of each of these pseudonyms (the key of the table: a range read each).
DIRECTORY_OF = """
SELECT pseudonym, key_id, sealed
FROM directory FINAL
WHERE pseudonym IN %(people)s
"""

# Each alert's current follow-up state: the newest change recorded for it.
FOLLOW_UP_STATES = """
SELECT alert_id, argMax(state, version), toUInt32(max(at))
FROM follow_ups
WHERE case_id = %(case_id)s
GROUP BY alert_id
"""

# The contacts of a case that were reported as cases of their own from their follow-up.
FOLLOW_UP_REPORTED = """
SELECT alert_id, any(reported_case_id)
FROM follow_ups
WHERE case_id = %(case_id)s AND reported_case_id != ''
GROUP BY alert_id
"""

FOLLOW_UP_HISTORY = """
SELECT at, state, note, token_id, reported_case_id
FROM follow_ups
WHERE case_id = %(case_id)s AND alert_id = %(alert_id)s
ORDER BY version
"""

INSERT_FOLLOW_UP = """
INSERT INTO follow_ups (day, at, case_id, alert_id, state, note, token_id, reported_case_id,
                        version) VALUES
"""

FOLLOW_UP_PARTITIONS = """
SELECT DISTINCT partition FROM system.parts
WHERE database = %(db)s AND table = 'follow_ups' AND active
"""

# The follow-up funnel of the open cases' current alerts: how many are in each state (an
# alert nobody recorded anything for is `new`). Counts only: what the dashboard role reads.
FOLLOW_UP_FUNNEL = """
SELECT if(state = '', 'new', state) AS current, count()
FROM
(
    SELECT case_id, alert_id
    FROM
    (
        SELECT case_id, alert_id, created_at, deleted
        FROM alerts FINAL
    )
    WHERE deleted = 0 AND created_at >= toDateTime(%(open_since)s)
) AS current_alerts
ANY LEFT JOIN
(
    SELECT case_id, alert_id, argMax(state, version) AS state
    FROM follow_ups
    GROUP BY case_id, alert_id
) AS states USING (case_id, alert_id)
GROUP BY current
ORDER BY current
"""

# A person's open cases as their F0, and their current alerts in open cases (status lookup).
# person_id is no key of either table: every version of a case or alert names the same person,
# so the filter inside FINAL keeps all of a key's versions or none.
PERSON_CASES = """
SELECT case_id
FROM (
    SELECT case_id, status, reported_at
    FROM cases FINAL
    WHERE person_id = %(person)s
)
WHERE status = 'reported' AND reported_at >= toDateTime(%(open_since)s)
ORDER BY case_id
"""

PERSON_ALERTS = """
SELECT case_id, alert_id, degree, toUInt32(exposed_at), toUInt32(created_at)
FROM (
    SELECT case_id, alert_id, degree, exposed_at, created_at, deleted
    FROM alerts FINAL
    WHERE person_id = %(person)s
)
WHERE deleted = 0
  AND case_id IN (
      SELECT case_id FROM (SELECT case_id, status, reported_at FROM cases FINAL)
      WHERE status = 'reported' AND reported_at >= toDateTime(%(open_since)s))
ORDER BY case_id
"""

# The person's current alerts of open exposure events (rule 11: stored under the event's id).
PERSON_EVENT_ALERTS = """
SELECT case_id, alert_id, degree, toUInt32(exposed_at), toUInt32(created_at)
FROM (
    SELECT case_id, alert_id, degree, exposed_at, created_at, deleted
    FROM alerts FINAL
    WHERE person_id = %(person)s
)
WHERE deleted = 0
  AND case_id IN (
      SELECT event_id FROM (SELECT event_id, status, ended_at FROM exposure_events FINAL)
      WHERE status = 'declared' AND ended_at >= toDateTime(%(open_since)s))
ORDER BY case_id
"""

# Rule 10: a sealed identifier goes with the retention horizon, like the scans it came with.
PURGE_DIRECTORY = "ALTER TABLE directory DELETE WHERE sealed_at < toDateTime(%(cutoff)s)"

EXPOSURE_EVENT = """
SELECT event_id, venue_id, started_at, ended_at, message, action, min_presence_s,
       with_contacts, declared_at, status
FROM exposure_events FINAL
WHERE event_id = %(event_id)s
"""

# An exposure event's alerts are stored like a case's, under its event id (rule 11).
EVENT_ALERTS = """
SELECT alert_id, person_id, degree, exposed_at, via_person_id, venue_ids, exposures,
       created_at, risk_score, risk_level
FROM (
    SELECT alert_id, person_id, degree, exposed_at, via_person_id, venue_ids, exposures,
           created_at, risk_score, risk_level, deleted
    FROM alerts FINAL
    WHERE case_id = %(event_id)s
)
WHERE deleted = 0
ORDER BY degree, exposed_at, alert_id
LIMIT %(limit)s
"""
MAX_EVENT_ALERTS = 100_000

# The dashboard's venue panel (counts only): the current clusters and the declared exposure
# events that end after the open cases' horizon, newest first, each with its venue's name.
CLUSTERS_LISTED = 100
CURRENT_CLUSTERS = """
SELECT cluster_id, venue_id, if(name = '', venue_id, name), venue_kind, started_at, ended_at,
       cases, visitors, detected_at
FROM
(
    SELECT cluster_id, venue_id, venue_kind, started_at, ended_at, length(case_ids) AS cases,
           visitors, detected_at
    FROM
    (
        SELECT cluster_id, venue_id, venue_kind, started_at, ended_at, case_ids, visitors,
               detected_at, deleted
        FROM clusters FINAL
    )
    WHERE deleted = 0 AND ended_at >= toDateTime(%(since)s)
) AS current
ANY LEFT JOIN venue_names USING venue_id
ORDER BY detected_at DESC, cluster_id
LIMIT %(limit)s
"""

EVENTS_LISTED = 100
# An event's alerts are stored under its id as case_id (rule 11): counted per declared event.
DECLARED_EVENTS = """
SELECT event_id, venue_id, if(name = '', venue_id, name), started_at, ended_at, action, alerts
FROM
(
    SELECT event_id, venue_id, started_at, ended_at, action, alerts
    FROM
    (
        SELECT event_id, venue_id, started_at, ended_at, action
        FROM
        (
            SELECT event_id, venue_id, started_at, ended_at, action, status
            FROM exposure_events FINAL
        )
        WHERE status = 'declared' AND ended_at >= toDateTime(%(since)s)
    ) AS declared
    ANY LEFT JOIN
    (
        SELECT case_id AS event_id, count() AS alerts
        FROM
        (
            SELECT case_id, deleted
            FROM alerts FINAL
            WHERE case_id IN (SELECT event_id FROM exposure_events)
        )
        WHERE deleted = 0
        GROUP BY case_id
    ) AS counted USING event_id
) AS events
ANY LEFT JOIN venue_names USING venue_id
ORDER BY started_at DESC, event_id
LIMIT %(limit)s
"""

# The current visits at a venue that overlap a UTC day, for its occupancy timeline. `day` is
# the day a visit ends (its partition); a stay lasts at most MAX_DWELL_DAYS.
MAX_DWELL_DAYS = 7  # schemas.venues.MAX_DWELL_LIMIT_S
VENUE_DAY_VISITS = """
SELECT visitor, toUInt32(came), toUInt32(left)
FROM
(
    SELECT visit_id, any(person_id) AS visitor, any(started_at) AS came,
           any(ended_at) AS left
    FROM visits
    WHERE venue_id = %(venue_id)s AND day >= %(day)s AND day <= %(last_day)s
      AND started_at < toDateTime(%(until)s) AND ended_at >= toDateTime(%(since)s)
    GROUP BY visit_id
    HAVING argMax(deleted, version) = 0
)
"""
