"""Worker entry point: `dramatiq services.reports.worker --queues reports.events` (the kit's worker module
pattern: broker and resources first, then the actors)."""

from __future__ import annotations

from shared.service.worker import setup_worker

resources = setup_worker("reports")

from services.reports import actors  # noqa: E402, F401  (actors declare on the broker set up above)
