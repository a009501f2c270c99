"""Worker entry point: `dramatiq services.orders.worker` (the kit's worker module pattern)."""

from __future__ import annotations

from shared.service.worker import setup_worker

resources = setup_worker("orders")

from services.orders import actors  # noqa: E402,F401  (actors declare on the broker set up above)
