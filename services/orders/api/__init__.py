"""The orders service's internal HTTP API, called by the gateway with a service token."""
