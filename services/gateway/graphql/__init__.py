"""The public GraphQL schema, one module per domain, composed in `schema.py`."""
