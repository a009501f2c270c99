"""The service kit: what every service (orders, insights, reports) builds on.

- `app`: the internal API's Starlette app (pool in the lifespan, health routes, request ids).
- `endpoint`: the endpoint decorators (service-token auth, tenant transaction, error mapping).
- `pagination`: keyset pages, cursors, day ranges and prefix search for list queries.
- `worker`: the worker module pattern (broker first, actors next, resources at boot).
- `org_settings`: the event-fed local copy of each organisation's name, time zone and currency.
"""
