"""The domain: value types (`values`), events (`events`), pseudonymisation (`pseudonyms`), the
experiment-definition parser (`definition`) and shared number predicates (`checks`). Import from those
modules; this package exports nothing of its own."""
