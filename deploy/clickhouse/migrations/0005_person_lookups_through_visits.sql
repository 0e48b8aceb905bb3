-- "All contacts of person X between t1 and t2" now goes through X's visits instead of a copy of
-- every contact per endpoint: `visits_by_person` (person first in its key) gives the venues X was
-- at in the window, and `contacts` (venue first in its key) gives those venues' contacts in the
-- window, from which the reader keeps X's. Both are primary-key range reads
-- (services/alerts/worker/store.py). A person has about one visit per two scans but several
-- contacts per scan, so this index is a small fraction of the rows `contacts_by_person` held:
-- measured on 18.16 with a city's day of 387k scans (1.8 million contacts), ClickHouse spent
-- 5.7 CPU seconds storing the tracer's rows without the contacts copies and 16.6 with them.
-- Runs on ClickHouse 18.16 and on current releases.
--
-- `day` here is the day a visit *ends*, and the table's partition: retention drops a visit only
-- once it ended before the horizon's day, so a visit across midnight stays findable for as long
-- as the contacts it holds (partitioned by the day they start) are kept.

CREATE TABLE IF NOT EXISTS visits_by_person
(
    day Date,
    person_id String,
    started_at DateTime('UTC'),
    ended_at DateTime('UTC'),
    venue_id String,
    visit_id String,
    deleted UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY day
ORDER BY (person_id, started_at, visit_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS visits_by_person_feed
TO visits_by_person
AS SELECT toDate(ended_at) AS day, person_id, started_at, ended_at, venue_id, visit_id, deleted,
          version
FROM visits;

-- The visits stored before the view existed. One inserted meanwhile is copied twice, which
-- ReplacingMergeTree and every reader take as one row; so does a re-run of this file.
INSERT INTO visits_by_person
SELECT toDate(ended_at) AS day, person_id, started_at, ended_at, venue_id, visit_id, deleted,
       version
FROM visits;

DROP TABLE IF EXISTS contacts_by_person_feed_a;

DROP TABLE IF EXISTS contacts_by_person_feed_b;

DROP TABLE IF EXISTS contacts_by_person;
