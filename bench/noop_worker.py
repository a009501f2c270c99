"""The Dramatiq floor: a no-op actor on its own queue, on the platform's broker and async-actor path.

dramatiq bench.noop_worker --processes 1 --threads 8 --queues bench-noop
"""

from __future__ import annotations

from shared.messaging.broker import async_actor, get_broker

get_broker()  # the platform's broker and middleware, set as Dramatiq's global broker for the CLI

QUEUE = "bench-noop"
ACTOR = "bench_noop"


@async_actor(actor_name=ACTOR, queue_name=QUEUE, max_retries=0)
async def noop(i: int) -> None:
    return None
