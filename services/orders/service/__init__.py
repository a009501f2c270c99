"""The orders service's workflows: endpoints and actors call these; they call the repository.

A workflow runs inside the caller's transaction (the request or the message owns it) and
writes its domain events to the outbox in that same transaction.
"""
