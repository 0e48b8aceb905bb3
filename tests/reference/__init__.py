"""Obviously-correct, slow versions of the domain rules, for tests to compare against."""
