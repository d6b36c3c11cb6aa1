"""The funding ledger's domain: aggregates, events, reference data and the application service."""
