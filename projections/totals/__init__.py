"""The `totals` read model: one fact per money movement, and cubes summing them.

`tables.py` holds its tables, `feed.py` how each event changes them (with `dimensions.py`
and `moves.py`), `queries.py` the reads.
"""
