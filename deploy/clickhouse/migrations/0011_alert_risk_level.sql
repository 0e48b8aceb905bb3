-- The level of 0010's risk_score (low, medium, high); alerts written before read as low.
ALTER TABLE alerts ADD COLUMN risk_level String DEFAULT 'low';
