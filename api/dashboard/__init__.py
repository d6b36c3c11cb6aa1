"""The dashboard: static pages at `/` that read only the public `/v1` API."""
