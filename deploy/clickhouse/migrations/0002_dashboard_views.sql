-- Dashboard figures as plain views: what `GET /v1/figures` reads and what a Grafana ClickHouse
-- data source queries (docs/grafana.md). Plain views store nothing, so retention (rule 10) and
-- retractions apply to them by themselves. Runs on ClickHouse 18.16 and on current releases.
--
-- Each view keeps `day` (the UTC day partition of its source rows) as a grouping column: a
-- `WHERE day >= …` on the view then prunes whole partitions once pushed into it
-- (enable_optimize_predicate_expression, on by default in current releases; the API sets it).

-- Scans per UTC hour. A scan replayed after a crash is one row again only once ClickHouse has
-- merged, so scans are counted as distinct (venue_id, event_id): rule 1's idempotency.
CREATE VIEW IF NOT EXISTS scans_per_hour AS
SELECT
    day,
    toStartOfHour(scanned_at) AS hour,
    uniqExact(venue_id, event_id) AS scans,
    uniqExact(person_id) AS people,
    uniqExact(venue_id) AS venues
FROM scans
GROUP BY day, hour;

-- Scans and distinct visitors of each venue per UTC hour. Sum `scans` over hours for a longer
-- window (a scan falls in exactly one hour); `people` does not add up across hours.
CREATE VIEW IF NOT EXISTS venue_activity AS
SELECT
    day,
    venue_id,
    toStartOfHour(scanned_at) AS hour,
    uniqExact(event_id) AS scans,
    uniqExact(person_id) AS people
FROM scans
GROUP BY day, venue_id, hour;

-- The latest version of every venue's name and kind (the registry's copy in ClickHouse).
CREATE VIEW IF NOT EXISTS venue_names AS
SELECT
    venue_id,
    argMax(name, version) AS name,
    argMax(kind, version) AS kind
FROM venues
GROUP BY venue_id;

-- Every case in its latest version with its current alerts counted by degree. Alerts are
-- current when the latest version of their row is not a retraction (argMax over version, the
-- same answer FINAL gives); a withdrawn case has none left.
CREATE VIEW IF NOT EXISTS case_alert_counts AS
SELECT
    case_id,
    person_id,
    status,
    reported_at,
    withdrawn_at,
    f1,
    f2,
    beyond_f2,
    alerts
FROM
(
    SELECT
        case_id,
        argMax(person_id, version) AS person_id,
        argMax(status, version) AS status,
        argMax(reported_at, version) AS reported_at,
        argMax(withdrawn_at, version) AS withdrawn_at
    FROM cases
    GROUP BY case_id
) AS latest_cases
ANY LEFT JOIN
(
    SELECT
        case_id,
        countIf(current_degree = 1) AS f1,
        countIf(current_degree = 2) AS f2,
        countIf(current_degree > 2) AS beyond_f2,
        count() AS alerts
    FROM
    (
        SELECT
            case_id,
            alert_id,
            argMax(degree, version) AS current_degree,
            argMax(deleted, version) AS current_deleted
        FROM alerts
        GROUP BY case_id, alert_id
    )
    WHERE current_deleted = 0
    GROUP BY case_id
) AS alert_counts USING case_id;
