-- `contacts_by_person` is filled by ClickHouse itself from every insert into `contacts`: each
-- contact edge becomes one row per endpoint. The tracer then sends each contact change once
-- (a third of the rows it sent before), and both tables always get the same changes, in the
-- same insert. Retention drops day partitions of both tables; the view holds no data itself.
-- Runs on ClickHouse 18.16 and on current releases.
CREATE MATERIALIZED VIEW IF NOT EXISTS contacts_by_person_feed
TO contacts_by_person
AS SELECT
    day,
    endpoints.1 AS person_id,
    started_at,
    ended_at,
    contact_id,
    endpoints.2 AS other_person_id,
    venue_id,
    deleted,
    version
FROM contacts
ARRAY JOIN [(person_a, person_b), (person_b, person_a)] AS endpoints;
