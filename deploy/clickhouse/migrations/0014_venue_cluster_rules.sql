-- A venue's own cluster rule (rule 12), copied from its registry record; 0 keeps its kind's.
ALTER TABLE venues ADD COLUMN cluster_min_cases UInt16 DEFAULT 0;
ALTER TABLE venues ADD COLUMN cluster_window_days UInt16 DEFAULT 0;
ALTER TABLE venues ADD COLUMN cluster_min_presence_s UInt32 DEFAULT 0;
