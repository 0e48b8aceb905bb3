"""The alerts worker: cases and contact changes in, F1/F2 alerts out (rules 5-9)."""
