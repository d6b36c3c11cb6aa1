"""The event store adapter: which store a URL names and the library's recorders tuned for it.

`settings` maps the URL onto the library's settings, naming one infrastructure factory per
store (`memory`, `sqlite`, `postgres`); each builds the ledger's recorder, which tells event
positions, and an event store that saves by group commit (`group_commit`).
"""
