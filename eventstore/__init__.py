"""The event store adapter: the library's recorders tuned for a ledger that never double-counts."""
