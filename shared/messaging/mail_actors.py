"""The kit's mail actors: one message sent per idempotency key, retried with back-off while SMTP is down.

- `mail.send` (queue `mail`): `send_mail.send(key, mail.to_payload())` from a worker, outside any transaction.
- `mail.on_<service>_event` (queue `mail.events`): the `mail.requested` outbox events a service wrote with
  `shared.mail.request_mail`, handed over by its relay once their transaction committed.

A worker that sends mail loads this module after its own worker module (which made the broker):
`dramatiq services.orders.worker shared.messaging.mail_actors --queues orders mail mail.events`.

Once per key. After the SMTP server accepted a message, `mail:sent:<key>` is set in Redis (SET NX, kept
`SENT_TTL_SECONDS`, longer than a dead letter is kept, so a replay finds it too); a delivery that finds it
sends nothing. Two deliveries of one key at once (a redelivery beside a slow first attempt) are kept apart
by `mail:sending:<key>`, taken with SET NX for longer than an SMTP exchange can last: the second is retried
later and then finds the first one's mark. What remains is a small window: a worker that dies after the
server accepted the message and before the mark is written (or Redis failing just then) sends it again
on redelivery. The Message-ID is the same for every attempt of a key (`shared.mail.message_id`), so a
receiver can still tell the two apart.

Retries: a server that cannot be reached, times out or answers 4xx is retried with exponential back-off
(1 s doubling to 10 min) for at least MAIL_RETRY_HORIZON_SECONDS (6 h); a permanent refusal (5xx for the
recipient or the content) goes to the dead letters at once, where `python -m shared.messaging.dead_letters`
shows why and replays it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from shared import logging as slog
from shared.config import SERVICES, get_settings
from shared.mail import Mail, MailRefused, SmtpConfig, build_message, check_key, send, subscription
from shared.messaging.broker import async_actor, get_broker, retries_for_horizon
from shared.messaging.contracts import Event

logger = logging.getLogger("mail")

MAIL_QUEUE = "mail"
MAIL_EVENTS_QUEUE = "mail.events"
SEND_MAIL = "mail.send"
SENT_TTL_SECONDS = 14 * 86_400  # dead letters are kept 7 days (DEAD_MESSAGE_TTL_MS): a replay still finds the mark
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 600_000
MAX_RETRIES = retries_for_horizon(
    get_settings().mail_retry_horizon_seconds * 1000, min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS
)
# Release the "sending" mark only if it is still ours (it may have expired and been taken by another delivery).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class MailInProgress(Exception):
    """Another delivery of the same key is sending right now: retried later, when its mark tells the outcome."""


def sent_key(key: str) -> str:
    return f"mail:sent:{key}"


def sending_key(key: str) -> str:
    return f"mail:sending:{key}"


def _sending_ttl_ms(config: SmtpConfig) -> int:
    """Longer than one SMTP exchange can take: connect, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, each bounded."""
    return int((8 * config.timeout + 30) * 1000)


def _redis() -> Any:
    """The broker's Redis client: the same server and pool as the queues (redis-py is thread-safe)."""
    return get_broker().client


async def deliver(
    key: str,
    mail: Mail,
    *,
    config: SmtpConfig | None = None,
    sender: str | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> bool:
    """Sends `mail` unless a message with this key was sent already; True when it sent it now.

    Redis calls run in a thread: the actors' event loop is shared by every async actor of the worker and
    must not wait on a socket.
    """
    check_key(key)
    settings = get_settings()
    config = config or SmtpConfig.from_settings(settings)
    client = _redis()
    if await asyncio.to_thread(client.exists, sent_key(key)):
        slog.log(logger, logging.INFO, "mail already sent", key=key)
        return False
    token = uuid.uuid4().hex
    if not await asyncio.to_thread(client.set, sending_key(key), token, nx=True, px=_sending_ttl_ms(config)):
        raise MailInProgress(f"mail {key!r} is being sent by another delivery; retrying later")
    try:
        if await asyncio.to_thread(client.exists, sent_key(key)):  # finished between our two looks
            return False
        message = build_message(mail, sender=sender or settings.mail_from, key=key, attachments=attachments)
        await send(message, config)
        try:
            await asyncio.to_thread(client.set, sent_key(key), "1", nx=True, ex=SENT_TTL_SECONDS)
        except Exception as exc:  # sent: a retry now would send it again; the ack may still get through
            slog.log(logger, logging.WARNING, "mail sent but not marked", key=key, cause=slog.describe(exc))
    finally:
        try:
            await asyncio.to_thread(client.eval, _RELEASE, 1, sending_key(key), token)
        except Exception as exc:  # it expires by itself
            slog.log(logger, logging.WARNING, "mail sending mark not released", key=key, cause=slog.describe(exc))
    slog.log(logger, logging.INFO, "mail sent", key=key, domain=mail.to.rpartition("@")[2])
    return True


_RETRY_OPTIONS: dict[str, Any] = {
    "max_retries": MAX_RETRIES,
    "min_backoff": MIN_BACKOFF_MS,
    "max_backoff": MAX_BACKOFF_MS,
    # Retrying cannot help: a permanent refusal, or a mail that cannot be built (a bad key or payload).
    "throws": (MailRefused, ValueError, KeyError),
}


@async_actor(actor_name=SEND_MAIL, queue_name=MAIL_QUEUE, **_RETRY_OPTIONS)
async def send_mail(key: str, mail: dict[str, Any]) -> None:
    """Sends `mail` (`shared.mail.Mail.to_payload()`) once per `key`. Returns nothing (no result backend)."""
    await deliver(key, Mail.from_payload(mail))


def _event_actor(source: str) -> Any:
    """The actor through which `source`'s relay delivers its `mail.requested` events."""
    sub = subscription(source)
    if sub.queue != MAIL_EVENTS_QUEUE:
        raise RuntimeError(f"{sub.actor} would consume {sub.queue}, not {MAIL_EVENTS_QUEUE}")

    async def on_event(envelope: dict[str, Any]) -> None:
        event = Event.from_envelope(envelope)
        if not sub.wants(event.type):
            return
        with slog.bound_org(str(event.org_id)):
            await deliver(str(event.payload["key"]), Mail.from_payload(event.payload["mail"]))

    on_event.__name__ = on_event.__qualname__ = sub.actor.replace(".", "_")
    return async_actor(actor_name=sub.actor, queue_name=sub.queue, **_RETRY_OPTIONS)(on_event)


# One per service, so a service's relay can hand mail over as soon as its subscription is declared.
event_actors = {service: _event_actor(service) for service in SERVICES}
