"""Dead letters: messages that exhausted their retries, shown with their last error, replayed or discarded.

Dramatiq moves such a message to `<ns>:<queue>.XQ` (a sorted set of ids by time of death) and
`<ns>:<queue>.XQ.msgs` (their data), and drops them after DEAD_MESSAGE_TTL_MS. The data is the
message as last enqueued, so `RecordDeathCause` (installed on every worker) keeps the error of
the final attempt beside it in `<ns>:<queue>.XQ.errors`.

    python -m shared.messaging.dead_letters list [--queue orders]
    python -m shared.messaging.dead_letters replay --queue orders (--id ID ... | --all)
    python -m shared.messaging.dead_letters discard --queue orders (--id ID ... | --all)

A replayed message starts again with a fresh retry budget; every actor is idempotent, so a
replay of a message whose effect did land changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import dramatiq
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Middleware

from shared.local import use_local_platform
from shared.messaging.broker import get_broker


def _redis(broker: RedisBroker) -> Any:
    """The broker's Redis client (redis-py's own annotations are looser than its behaviour)."""
    return broker.client


def _keys(broker: RedisBroker, queue: str) -> tuple[str, str, str]:
    base = f"{broker.namespace}:{queue}.XQ"
    return base, f"{base}.msgs", f"{base}.errors"


class RecordDeathCause(Middleware):
    """Keeps the traceback of a message's final attempt beside its dead letter."""

    def after_nack(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        if not isinstance(broker, RedisBroker):
            return
        redis_id = message.options.get("redis_message_id")
        cause = message.options.get("traceback") or "failed (no traceback recorded)"
        if redis_id:
            queue = message.queue_name.removesuffix(".DQ")
            _redis(broker).hset(_keys(broker, queue)[2], redis_id, str(cause)[-8000:])


def install(broker: dramatiq.Broker) -> None:
    """Adds `RecordDeathCause` to `broker` once (every worker does, through the kit)."""
    if not any(isinstance(m, RecordDeathCause) for m in broker.middleware):
        broker.add_middleware(RecordDeathCause())


@dataclass(frozen=True)
class DeadLetter:
    id: str  # the id of this delivery in Redis (what replay/discard take)
    message_id: str
    actor: str
    queue: str
    died_at: str
    retries: int
    error: str
    args: list[Any]


def queues_with_dead_letters(broker: RedisBroker) -> list[str]:
    prefix, suffix = f"{broker.namespace}:", ".XQ"
    names = {key.decode() for key in _redis(broker).scan_iter(match=f"{prefix}*{suffix}")}
    return sorted(n[len(prefix) : -len(suffix)] for n in names)


def list_dead(broker: RedisBroker, queue: str) -> list[DeadLetter]:
    xq, msgs, errors = _keys(broker, queue)
    client = _redis(broker)
    out = []
    for raw_id, score in client.zrange(xq, 0, -1, withscores=True):
        redis_id = raw_id.decode()
        data = client.hget(msgs, redis_id)
        if data is None:
            continue
        message = Message.decode(data)
        cause = client.hget(errors, redis_id) or message.options.get("traceback", "").encode()
        out.append(
            DeadLetter(
                id=redis_id,
                message_id=message.message_id,
                actor=message.actor_name,
                queue=queue,
                died_at=datetime.fromtimestamp(score / 1000, UTC).isoformat(),
                retries=int(message.options.get("retries", 0)),
                error=(cause.decode() if isinstance(cause, bytes) else str(cause)).strip(),
                args=list(message.args),
            )
        )
    return out


def _remove(broker: RedisBroker, queue: str, redis_id: str) -> bytes | None:
    xq, msgs, errors = _keys(broker, queue)
    client = _redis(broker)
    data: bytes | None = client.hget(msgs, redis_id)
    pipe = client.pipeline()
    pipe.zrem(xq, redis_id).hdel(msgs, redis_id).hdel(errors, redis_id)
    removed = pipe.execute()[0]
    return data if removed else None  # another operator took it first: act once


def replay(broker: RedisBroker, queue: str, ids: list[str]) -> int:
    """Enqueues the dead letters again, each with a fresh retry budget; returns how many."""
    count = 0
    for redis_id in ids:
        data = _remove(broker, queue, redis_id)
        if data is None:
            continue
        message = Message.decode(data)
        options = {k: v for k, v in message.options.items() if k not in ("retries", "traceback", "redis_message_id")}
        broker.enqueue(message.copy(queue_name=queue, options=options))
        count += 1
    return count


def discard(broker: RedisBroker, queue: str, ids: list[str]) -> int:
    return sum(1 for redis_id in ids if _remove(broker, queue, redis_id) is not None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.messaging.dead_letters",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list", help="dead letters with their last error (JSON lines)")
    ls.add_argument("--queue", help="one queue (default: every queue that has dead letters)")
    for name in ("replay", "discard"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--queue", required=True)
        which = cmd.add_mutually_exclusive_group(required=True)
        which.add_argument("--id", action="append", dest="ids", help="a dead letter's id (repeatable)")
        which.add_argument("--all", action="store_true")
    args = parser.parse_args(argv)
    use_local_platform()
    broker = get_broker()
    if args.cmd == "list":
        for queue in [args.queue] if args.queue else queues_with_dead_letters(broker):
            for letter in list_dead(broker, queue):
                print(json.dumps(asdict(letter), default=str))
        return 0
    ids = [d.id for d in list_dead(broker, args.queue)] if args.all else args.ids
    done = (replay if args.cmd == "replay" else discard)(broker, args.queue, ids)
    print(json.dumps({args.cmd: done, "queue": args.queue}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
