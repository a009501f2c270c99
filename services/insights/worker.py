"""Worker entry point: `dramatiq services.insights.worker` (the kit's worker module pattern), plus the
maintenance loop every insights worker process offers to run (each slot runs once however many do)."""

from __future__ import annotations

from shared.service.worker import setup_worker

resources = setup_worker("insights")

from services.insights import actors  # noqa: E402  (actors declare on the broker set up above)

actors.install_maintenance()
