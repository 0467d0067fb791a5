"""Use cases: each combines the pure core with storage and returns values."""
