-- Risk per alert (services/alerts/domain/risk.py): weighted exposure minutes to hundredths, so
-- tracers sort who to call first; alerts written before read as 0. One ALTER a file (see 0006).
ALTER TABLE alerts ADD COLUMN risk_score Float64 DEFAULT 0;
