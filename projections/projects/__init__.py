"""The `projects` read model: each project's details and figures, and the conventions.

`tables.py` holds its tables, `feed.py` how each event changes them, `queries.py` the reads.
"""
