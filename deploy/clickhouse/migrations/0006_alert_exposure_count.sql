-- How many exposures an alert has, computed by ClickHouse as each alert row is written (and on
-- read for rows written before), so a page of alerts never reads the `exposures` column: that
-- is most of an alert's bytes. An exposure is a flat JSON object (no nested braces), which the
-- alerts worker writes. One statement per file: ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS,
-- so a file is re-runnable only if it has one ALTER.
ALTER TABLE alerts ADD COLUMN exposure_count UInt32
    MATERIALIZED length(extractAll(exposures, '\\{[^{}]*\\}'));
