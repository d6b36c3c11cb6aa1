"""HTTP API, CLI and dashboard of the funding ledger."""
