-- The level of 0009's risk_score (low, medium, high); alerts written before read as low.
ALTER TABLE alerts ADD COLUMN risk_level String DEFAULT 'low';
