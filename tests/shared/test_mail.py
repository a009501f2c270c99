"""The mail kit: SMTP_URL, the message, and the actors that send one message per key through a real SMTP server.

The server is the development mailbox (aiosmtpd, infra/mailbox.py) on a free port; the actors run in a real
Dramatiq worker on the real broker.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.embedded import free_port
from infra.mailbox import Mailbox, StoredMessage, messages
from shared.config import get_settings
from shared.health import DependencyUnavailable
from shared.mail import (
    MAIL_REQUESTED,
    Mail,
    MailNotConfigured,
    SmtpConfig,
    build_message,
    message_id,
    request_mail,
    send,
    subscription,
)


def key() -> str:
    return f"test:{uuid.uuid4().hex}"


async def until(predicate: Callable[[], bool], timeout: float = 20, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.fixture
def smtp_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Points SMTP_URL at a server for the actors of this process; the settings are read afresh after."""

    def point(url: str) -> None:
        monkeypatch.setenv("SMTP_URL", url)
        get_settings.cache_clear()

    yield point
    monkeypatch.delenv("SMTP_URL", raising=False)
    get_settings.cache_clear()


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    with Mailbox(tmp_path / "mail", free_port()) as box:
        yield box


# --------------------------------------------------------------------------- configuration and message


def test_smtp_url_forms() -> None:
    plain = SmtpConfig.from_url("smtp://mailer:p%40ss%2Fw0rd@mail.example:587", timeout=7)
    assert (plain.host, plain.port, plain.username, plain.password) == ("mail.example", 587, "mailer", "p@ss/w0rd")
    assert not plain.implicit_tls and plain.timeout == 7
    assert "p@ss" not in repr(plain) and "w0rd" not in plain.dependency
    tls = SmtpConfig.from_url("smtps://smtp.example")
    assert (tls.port, tls.implicit_tls, tls.username, tls.password) == (465, True, None, None)
    assert SmtpConfig.from_url("smtp://127.0.0.1").port == 25
    for bad in ("", "http://mail.example", "smtp://", "smtp://host:notaport"):
        with pytest.raises(MailNotConfigured):
            SmtpConfig.from_url(bad)


def test_message_headers_are_one_line_and_the_message_id_follows_the_key() -> None:
    mail = Mail(to="jo@example.com", subject="Join Acme\r\nBcc: victim@example.com", text="hello", html="<p>hello</p>")
    msg = build_message(mail, sender="no-reply@partner.example", key="invitation:1:1")
    assert msg["Subject"] == "Join Acme Bcc: victim@example.com" and msg["Bcc"] is None
    assert msg["Message-ID"] == message_id("invitation:1:1", "no-reply@partner.example")
    assert msg["Message-ID"].endswith("@partner.example>")
    assert message_id("invitation:1:1", "a@b") != message_id("invitation:1:2", "a@b")
    assert {part.get_content_type() for part in msg.iter_parts()} == {"text/plain", "text/html"}
    assert Mail.from_payload(mail.to_payload()) == mail


# --------------------------------------------------------------------------- one send


async def test_send_authenticates_with_the_url_credentials(tmp_path: Path) -> None:
    with Mailbox(tmp_path / "mail", free_port(), login=("mailer", "s3cret/pw")) as box:
        good = SmtpConfig.from_url(f"smtp://mailer:s3cret%2Fpw@127.0.0.1:{box.port}", timeout=5)
        await send(build_message(Mail(to="jo@example.com", subject="Hi", text="body"), sender="a@b.example"), good)
        [stored] = box.messages()
        assert (stored.to, stored.subject) == ("jo@example.com", "Hi") and "body" in stored.text()
        bad = SmtpConfig.from_url(f"smtp://mailer:wrong@127.0.0.1:{box.port}", timeout=5)
        with pytest.raises(DependencyUnavailable):  # retried by the actors: a configuration can be fixed
            await send(build_message(Mail(to="jo@example.com", subject="x", text="y"), sender="a@b.example"), bad)
        anonymous = SmtpConfig.from_url(f"smtp://127.0.0.1:{box.port}", timeout=5)
        with pytest.raises(DependencyUnavailable):  # 530 at DATA: retried too, the login can be added
            await send(build_message(Mail(to="jo@example.com", subject="x", text="y"), sender="a@b.example"), anonymous)
        assert len(box.messages()) == 1


async def test_an_unreachable_server_is_an_outage_not_a_bug() -> None:
    config = SmtpConfig.from_url(f"smtp://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(DependencyUnavailable) as caught:
        await send(build_message(Mail(to="jo@example.com", subject="x", text="y"), sender="a@b.example"), config)
    assert caught.value.public == "mail server"


# --------------------------------------------------------------------------- the actors, in a real worker


def _mail_actors() -> Any:
    from shared.messaging import mail_actors

    return mail_actors


def _received(box: Mailbox, mail_key: str) -> list[StoredMessage]:
    """Messages of one key (the Message-ID is derived from it)."""
    wanted = message_id(mail_key, get_settings().mail_from)
    return [m for m in box.messages() if m.read()["Message-ID"] == wanted]


async def test_one_message_per_key_however_often_it_is_delivered(servers, mailbox, smtp_url) -> None:
    from shared.messaging.broker import get_broker
    from tests.workers import running_worker

    actors = _mail_actors()
    smtp_url(mailbox.url)
    k = key()
    mail = Mail(to="jo@example.com", subject="Once only", text="exactly one of these")
    for _ in range(3):  # a redelivery, a replay, a producer retrying: the same key each time
        actors.send_mail.send(k, mail.to_payload())
    other = key()
    actors.send_mail.send(other, Mail(to="al@example.com", subject="Another", text="a different key").to_payload())
    with running_worker({actors.MAIL_QUEUE}, threads=4):
        await until(lambda: len(_received(mailbox, k)) == 1 and len(_received(mailbox, other)) == 1, what="delivery")
        await asyncio.sleep(3)  # the deliveries that found the first one sending were retried by now
    [stored] = _received(mailbox, k)
    assert (stored.to, stored.subject) == ("jo@example.com", "Once only")
    assert stored.read()["From"] == get_settings().mail_from
    assert len(_received(mailbox, other)) == 1
    assert actors._redis().exists(actors.sent_key(k))

    # Delivered again later (a dead letter replayed, say): still one.
    actors.send_mail.send(k, mail.to_payload())
    pending = f"{get_broker().namespace}:{actors.MAIL_QUEUE}.msgs"  # a message leaves it once acknowledged
    with running_worker({actors.MAIL_QUEUE}, threads=1):
        await until(lambda: actors._redis().hlen(pending) == 0, what="the redelivery")
    assert len(_received(mailbox, k)) == 1


async def test_smtp_down_then_up_is_retried_and_delivered_once(servers, tmp_path, smtp_url) -> None:
    from shared.metrics import DEPENDENCY_UNAVAILABLE
    from tests.workers import running_worker

    actors = _mail_actors()
    port = free_port()
    smtp_url(f"smtp://127.0.0.1:{port}")  # nothing listens there yet
    failures = DEPENDENCY_UNAVAILABLE.labels(f"SMTP server at 127.0.0.1:{port}")
    k = key()
    actors.send_mail.send(k, Mail(to="jo@example.com", subject="Eventually", text="after the outage").to_payload())
    with running_worker({actors.MAIL_QUEUE}, threads=2):
        await until(lambda: failures._value.get() >= 1, what="a failed attempt")
        with Mailbox(tmp_path / "mail", port) as box:
            await until(lambda: len(box.messages()) == 1, timeout=30, what="the retry")
            await asyncio.sleep(1)
            [stored] = box.messages()
    assert stored.subject == "Eventually" and stored.to == "jo@example.com"
    assert actors._redis().exists(actors.sent_key(k))


async def test_a_permanent_refusal_goes_to_the_dead_letters_at_once(servers, tmp_path, smtp_url) -> None:
    from aiosmtpd.controller import Controller

    from shared.messaging import dead_letters
    from shared.messaging.broker import get_broker
    from tests.workers import running_worker

    class Refusing:
        async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
            return "550 5.1.1 no such mailbox"

    actors = _mail_actors()
    broker = get_broker()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        smtp_url(f"smtp://127.0.0.1:{controller.port}")
        k = key()
        message = actors.send_mail.send(k, Mail(to="nobody@example.com", subject="x", text="y").to_payload())

        def dead() -> list[Any]:
            return [d for d in dead_letters.list_dead(broker, actors.MAIL_QUEUE) if d.message_id == message.message_id]

        with running_worker({actors.MAIL_QUEUE}, threads=1):
            await until(lambda: bool(dead()), timeout=10, what="the dead letter")
        [letter] = dead()
        assert letter.args[0] == k and letter.retries == 0  # not retried: the server said no for good
        assert not actors._redis().exists(actors.sent_key(k))
        dead_letters.discard(broker, actors.MAIL_QUEUE, [letter.id])
    finally:
        controller.stop()


async def test_mail_asked_for_in_a_transaction_is_sent_only_once_committed(
    servers, pool, tenant, mailbox, smtp_url, tmp_path
) -> None:
    from shared.db import tenant_tx
    from shared.messaging.relay import relay_once
    from tests.workers import running_worker

    actors = _mail_actors()
    smtp_url(mailbox.url)
    while await relay_once(pool, "orders", subscriptions=()):  # what earlier tests left is not this test's mail
        pass
    org_id = tenant.org_id
    committed, rolled_back = key(), key()
    async with tenant_tx(pool, org_id) as conn:
        await request_mail(conn, org_id, committed, Mail(to="yes@example.com", subject="Committed", text="sent"))

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback):
        async with tenant_tx(pool, org_id) as conn:
            await request_mail(conn, org_id, rolled_back, Mail(to="no@example.com", subject="Rolled back", text="-"))
            raise Rollback
    async with tenant_tx(pool, org_id) as conn:
        rows = await conn.fetch(
            "SELECT type, payload FROM outbox WHERE org_id = $1 AND type = $2", org_id, MAIL_REQUESTED
        )
    assert [r["payload"]["key"] for r in rows] == [committed]
    subs = (subscription("orders"),)
    while await relay_once(pool, "orders", subscriptions=subs):
        pass
    with running_worker({actors.MAIL_EVENTS_QUEUE}, threads=2):
        await until(lambda: len(_received(mailbox, committed)) == 1, what="the committed mail")
        await asyncio.sleep(0.5)
    assert [m.subject for m in mailbox.messages()] == ["Committed"]
    assert [m.to for m in mailbox.messages()] == ["yes@example.com"]
    assert _received(mailbox, rolled_back) == []
    assert messages(tmp_path / "nowhere") == []


def test_the_orders_relay_hands_its_mail_to_the_mail_actors() -> None:
    from shared.messaging import contracts

    assert subscription("orders") in contracts.subscriptions_of("orders")
