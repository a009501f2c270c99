"""Dramatiq broker, the transactional outbox and its relay, and event contracts."""
