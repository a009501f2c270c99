"""The development mailbox: a local SMTP server that keeps every message it receives, and a command to read them.

`./platform up` runs it when SMTP_URL is unset, on EMBEDDED_SMTP_PORT (default 8025), keeping messages as
.eml files under `<data>/mail/`, and points the platform's SMTP_URL at it: invitations and reports can be
tried end to end and nothing leaves the machine. The tests start it on a free port as their real SMTP server.

    python -m infra.mailbox list              # newest first: number, date, to, subject
    python -m infra.mailbox show 1            # the newest message: its headers and text
    python -m infra.mailbox show 1 --raw      # as received
    python -m infra.mailbox serve --port 8025 --dir .data/mail

Development only (aiosmtpd is in the `embedded` dependency group, which the image leaves out): nothing a
deployment runs imports this module, and aiosmtpd is imported only when a server starts.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 8025
HOST = "127.0.0.1"


def default_directory() -> Path:
    """`<data>/mail`, the folder `./platform up` keeps messages in, wherever the command runs from."""
    return Path(os.environ.get("PLATFORM_DATA_DIR", ROOT / ".data")).resolve() / "mail"


def local_port() -> int:
    return int(os.environ.get("EMBEDDED_SMTP_PORT") or DEFAULT_PORT)


def server_argv(python: str, directory: Path, port: int) -> list[str]:
    """How the launcher runs the mailbox as a supervised process."""
    return [python, "-m", "infra.mailbox", "serve", "--port", str(port), "--dir", str(directory)]


class _Store:
    """aiosmtpd's handler: each message becomes one file, written whole before it appears under its name."""

    def __init__(self, directory: Path, *, require_auth: bool = False) -> None:
        self.directory, self.require_auth = directory, require_auth

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        self.directory.mkdir(parents=True, exist_ok=True)
        # Who it was delivered to, as MTAs record it: Bcc recipients appear in no header.
        trace = f"X-Envelope-From: {envelope.mail_from}\r\nX-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.eml"  # names sort in arrival order
        tmp = self.directory / f".{name}.tmp"
        tmp.write_bytes(trace.encode() + (envelope.original_content or b""))
        os.replace(tmp, self.directory / name)
        return "250 Message accepted for delivery"


@dataclass(frozen=True)
class StoredMessage:
    """One received message: its file, and what `list` shows of it."""

    number: int
    path: Path
    date: str
    to: str
    subject: str

    def read(self) -> EmailMessage:
        message = BytesParser(policy=policy.default).parsebytes(self.path.read_bytes())
        assert isinstance(message, EmailMessage)
        return message

    def text(self) -> str:
        """The plain-text body (the HTML one when there is no plain text)."""
        body = self.read().get_body(preferencelist=("plain", "html"))
        return body.get_content() if isinstance(body, EmailMessage) else ""


def messages(directory: Path) -> list[StoredMessage]:
    """Every message in `directory`, newest first, numbered from 1."""
    files = sorted(directory.glob("*.eml"), reverse=True) if directory.is_dir() else []
    out = []
    for number, path in enumerate(files, start=1):
        with path.open("rb") as f:
            headers = BytesParser(policy=policy.default).parse(f, headersonly=True)
        try:
            date = parsedate_to_datetime(str(headers["Date"])).isoformat(" ", "seconds")
        except (TypeError, ValueError):
            date = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(path.stat().st_mtime))
        out.append(StoredMessage(number, path, date, str(headers["To"] or ""), str(headers["Subject"] or "")))
    return out


class Mailbox:
    """The SMTP server on 127.0.0.1:`port`, storing into `directory`, in a thread of this process.

    `login` = (user, password) makes it require AUTH with exactly that login (over plain text: it is
    local), so a test can check that SMTP_URL's credentials reach the server.
    """

    def __init__(self, directory: Path, port: int, *, login: tuple[str, str] | None = None) -> None:
        self.directory, self.port, self.login = directory, port, login
        self._controller: Any = None

    @property
    def url(self) -> str:
        """The SMTP_URL that reaches it."""
        credentials = f"{self.login[0]}:{self.login[1]}@" if self.login else ""
        return f"smtp://{credentials}{HOST}:{self.port}"

    def start(self) -> Mailbox:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        options: dict[str, Any] = {}
        if self.login is not None:
            expected = (self.login[0].encode(), self.login[1].encode())

            def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
                ok = isinstance(data, LoginPassword) and (data.login, data.password) == expected
                return AuthResult(success=ok)

            # AUTH over plain text (it is local); an unauthenticated message is refused at DATA (`_Store`).
            options = {"authenticator": authenticate, "auth_require_tls": False}
        self.directory.mkdir(parents=True, exist_ok=True)
        store = _Store(self.directory, require_auth=self.login is not None)
        self._controller = Controller(store, hostname=HOST, port=self.port, **options)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[StoredMessage]:
        return messages(self.directory)

    def __enter__(self) -> Mailbox:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _serve(directory: Path, port: int) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    mailbox = Mailbox(directory, port).start()
    print(f"development mailbox: SMTP on {HOST}:{port}, messages in {directory}", flush=True)
    try:
        stop.wait()
    finally:
        mailbox.stop()


def _show(directory: Path, which: str, raw: bool) -> int:
    found = messages(directory)
    chosen = next((m for m in found if str(m.number) == which or m.path.name == which), None)
    if chosen is None:
        print(f"no message {which!r} in {directory} ({len(found)} messages)", file=sys.stderr)
        return 1
    if raw:
        sys.stdout.write(chosen.path.read_text(errors="replace"))
        return 0
    message = chosen.read()
    for header in ("Date", "From", "To", "Subject", "Message-ID"):
        if message[header] is not None:
            print(f"{header}: {message[header]}")
    print()
    print(chosen.text())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", type=Path, default=None, help="where messages are kept (default: <data>/mail)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", parents=[common], help="newest first: number, date, to, subject")
    show = sub.add_parser("show", parents=[common], help="one message: its headers and text")
    show.add_argument("number", help="its number in `list` (1 = newest) or its file name")
    show.add_argument("--raw", action="store_true", help="the message as received")
    serve = sub.add_parser("serve", parents=[common], help="run the SMTP server")
    serve.add_argument("--port", type=int, default=local_port())
    args = parser.parse_args(argv)
    directory: Path = args.dir or default_directory()
    if args.cmd == "serve":
        _serve(directory, args.port)
        return 0
    if args.cmd == "show":
        return _show(directory, args.number, args.raw)
    found = messages(directory)
    if not found:
        print(f"no messages in {directory}")
    for m in found:
        print(f"{m.number:>4}  {m.date}  {m.to}  {m.subject}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
