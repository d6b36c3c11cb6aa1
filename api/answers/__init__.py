"""Response models: every answer the API gives, one module per kind of route."""
