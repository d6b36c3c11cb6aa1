"""Read models fed by the global notification log: views, the projector, rebuilds."""
