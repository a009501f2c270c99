"""Mail: a message builder, an SMTP sender configured from SMTP_URL, and mail asked for inside a transaction.

How a service sends mail depends on where it stands:

- In a request's transaction, `request_mail(conn, org_id, key, mail)`: the mail becomes an outbox row that
  commits or rolls back with the change it announces (an invitation, say). The service's outbox relay hands
  it to the kit's mail actor (`shared/messaging/mail_actors.py`) once committed, so a rolled-back change
  sends nothing and a committed one cannot be lost between the commit and the queue.
- From a worker, outside any transaction (a report that is ready), `send_mail.send(key, mail.to_payload())`
  of `shared.messaging.mail_actors`.
- `send(message)` itself, once, with no retry and no idempotency: what the actors call.

Each mail carries an idempotency key (say `invitation:<member id>:<version>`): the actors send one message
per key however often it is delivered, and the key also makes the Message-ID, so that a receiving system
can recognise the rare duplicate (see `shared.messaging.mail_actors`).

SMTP_URL: `smtp://user:password@host:port` upgrades to TLS with STARTTLS whenever the server offers it,
`smtps://user:password@host:port` speaks TLS from the first byte; user and password are optional and
percent-encoded. MAIL_FROM is the sender (default `no-reply@partner-platform.local`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote, urlsplit
from uuid import UUID

import aiosmtplib
import asyncpg

from shared import logging as slog
from shared.config import Settings, get_settings
from shared.health import DependencyUnavailable
from shared.messaging.contracts import Subscription
from shared.messaging.outbox import add_event

logger = logging.getLogger("mail")

# The outbox event that carries a mail asked for in a transaction: {"key": ..., "mail": Mail.to_payload()}.
MAIL_REQUESTED = "mail.requested"
# Consumer name of the kit's mail actors in `shared.messaging.contracts.SUBSCRIPTIONS`.
MAIL_CONSUMER = "mail"
DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
MAX_KEY_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class MailNotConfigured(RuntimeError):
    """SMTP_URL is unset or malformed: nothing can be sent until it is fixed (the actors keep retrying)."""


class MailRefused(Exception):
    """The SMTP server refused this message for good (5xx for every recipient, or for its content).

    Retrying cannot help, so the actors do not: the message goes to the dead letters at once, with this
    error beside it, where an operator can read why and replay it once the cause is fixed.
    """


def subscription(source: str) -> Subscription:
    """The subscription through which `source`'s outbox relay hands its `mail.requested` events to the
    kit's mail actors (queue `mail.events`, actor `mail.on_<source>_event`)."""
    return Subscription(consumer=MAIL_CONSUMER, source=source, event_types=frozenset({MAIL_REQUESTED}))


def check_key(key: str) -> str:
    """An idempotency key: non-empty printable text; it names a Redis key and makes the Message-ID."""
    if not key or len(key) > MAX_KEY_LENGTH or _CONTROL.search(key) or key != key.strip():
        raise ValueError(f"a mail key is 1 to {MAX_KEY_LENGTH} printable characters, got {key!r}")
    return key


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to reach the SMTP server (from SMTP_URL)."""

    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    timeout: float

    @classmethod
    def from_url(cls, url: str, timeout: float = 30) -> SmtpConfig:
        if not url:
            raise MailNotConfigured("SMTP_URL is not set (smtp://user:password@host:port or smtps://...)")
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS:
            raise MailNotConfigured(f"SMTP_URL must start with smtp:// or smtps://, not {parts.scheme or url!r}://")
        if not parts.hostname:
            raise MailNotConfigured("SMTP_URL names no host")
        try:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError as exc:
            raise MailNotConfigured(f"SMTP_URL has an invalid port: {exc}") from None
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            implicit_tls=parts.scheme == "smtps",
            timeout=timeout,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        return cls.from_url(settings.smtp_url, settings.smtp_timeout_seconds)

    @property
    def dependency(self) -> str:
        """How logs name the server (never with the password)."""
        return f"SMTP server at {self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"SmtpConfig({self.host}:{self.port}, tls={'implicit' if self.implicit_tls else 'starttls-if-offered'})"


def _one_line(value: str) -> str:
    """A header value on one line: an organisation name with a line break must not add headers."""
    return _CONTROL.sub(" ", value).strip()


@dataclass(frozen=True)
class Mail:
    """One message to one recipient, as JSON primitives (it travels in outbox rows and Dramatiq messages)."""

    to: str
    subject: str
    text: str
    html: str | None = None
    reply_to: str | None = None

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"to": self.to, "subject": self.subject, "text": self.text}
        if self.html is not None:
            payload["html"] = self.html
        if self.reply_to is not None:
            payload["reply_to"] = self.reply_to
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Mail:
        return cls(
            to=str(payload["to"]),
            subject=str(payload["subject"]),
            text=str(payload["text"]),
            html=str(payload["html"]) if payload.get("html") is not None else None,
            reply_to=str(payload["reply_to"]) if payload.get("reply_to") is not None else None,
        )


def message_id(key: str, sender: str) -> str:
    """The same Message-ID for every attempt of one key: a receiver that sees it twice can tell."""
    domain = sender.rpartition("@")[2] or "partner-platform.local"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{_one_line(domain)}>"


def build_message(
    mail: Mail,
    *,
    sender: str,
    key: str | None = None,
    now: datetime | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> EmailMessage:
    """The MIME message of `mail` from `sender`: plain text, plus an HTML alternative when given, and
    `attachments` as (file name, MIME type, bytes) (a report run's file, sent by its worker)."""
    msg = EmailMessage()
    msg["From"] = _one_line(sender)
    msg["To"] = _one_line(mail.to)
    msg["Subject"] = _one_line(mail.subject)
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    if key is not None:
        msg["Message-ID"] = message_id(key, sender)
    if mail.reply_to:
        msg["Reply-To"] = _one_line(mail.reply_to)
    msg.set_content(mail.text)
    if mail.html is not None:
        msg.add_alternative(mail.html, subtype="html")
    for name, mime, data in attachments:
        maintype, _, subtype = mime.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=_one_line(name))
    return msg


# 5xx answers about authentication say our configuration is wrong, not the message: fixed, it goes through.
AUTH_CODES = frozenset({530, 534, 535, 538})


def _permanent(exc: aiosmtplib.SMTPException) -> bool:
    """Whether the server refused this message for good (5xx for its recipient or content), rather than for
    now (4xx, a lost line) or because of our own configuration (authentication, the sender)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(r.code >= 500 and r.code not in AUTH_CODES for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        return exc.code >= 500 and exc.code not in AUTH_CODES
    return False


async def send(message: EmailMessage, config: SmtpConfig | None = None) -> None:
    """Sends `message` once over SMTP.

    Raises `MailRefused` when the server refuses it for good, `DependencyUnavailable` when the server
    cannot be reached, times out or answers "try later" (reported once per interval, no traceback: an
    outage is not a bug), `MailNotConfigured` without a usable SMTP_URL.
    """
    config = config or SmtpConfig.from_settings(get_settings())
    try:
        await aiosmtplib.send(
            message,
            hostname=config.host,
            port=config.port,
            username=config.username,
            password=config.password,
            use_tls=config.implicit_tls,
            # None: STARTTLS when the server offers it (never after implicit TLS).
            start_tls=False if config.implicit_tls else None,
            timeout=config.timeout,
        )
    except aiosmtplib.SMTPException as exc:
        if _permanent(exc):
            raise MailRefused(f"{config.dependency} refused the message: {slog.describe(exc)}") from exc
        slog.dependency_unavailable(logger, config.dependency, exc)
        raise DependencyUnavailable(config.dependency, exc, public="mail server") from exc
    except OSError as exc:  # refused, reset, unreachable, TLS handshake failures
        slog.dependency_unavailable(logger, config.dependency, exc)
        raise DependencyUnavailable(config.dependency, exc, public="mail server") from exc
    slog.dependency_available(logger, config.dependency)


async def request_mail(conn: asyncpg.Connection, org_id: UUID | str, key: str, mail: Mail) -> None:
    """Asks for `mail` in the caller's transaction: sent once that transaction commits, never if it rolls back.

    The mail is an outbox event (`mail.requested`); the service's relay hands it to the mail actors, which
    send it once per `key`. The service's relay must carry it: `subscription(<service>)` is in
    `shared.messaging.contracts.SUBSCRIPTIONS`.
    """
    await add_event(conn, org_id, MAIL_REQUESTED, {"key": check_key(key), "mail": mail.to_payload()})
