"""HTTP API and CLI of the funding ledger."""
