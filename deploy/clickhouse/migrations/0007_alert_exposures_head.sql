-- The first five exposures of an alert (its timeline begins there), what a page of a case's
-- alerts shows; the alert's own endpoint reads all of them. See 0006 for the one ALTER a file.
-- Five is services.alerts.queries.sql.EXPOSURES_SHOWN (a test keeps them equal).
ALTER TABLE alerts ADD COLUMN exposures_head String
    MATERIALIZED concat('[', arrayStringConcat(arraySlice(extractAll(exposures, '\\{[^{}]*\\}'), 1, 5), ','), ']');
