"""Read models fed by the global notification log: one package each, listed in `registry.py`."""
