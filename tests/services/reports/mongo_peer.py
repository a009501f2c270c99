"""The local MongoDB peer of the forwarding tests and bench: SecantusDB (`secantusdb`, dev group), started as its own
process, `secantusd-py --port … --storage-path …` (`--auth` for credential tests), and spoken to only over the wire
(GPL-2.0: never imported). Import the fixtures into a test module: `from tests.services.reports.mongo_peer import
mongo_peer, mongo_auth_peer`.

`mongo_peer`: one peer for the session, on a free port with a temporary storage path; `stop()`/`start()` take it
down and bring it back on the same port and storage (the documents survive, as on a restarted MongoDB).
`mongo_auth_peer`: a peer under `--auth` with three users provisioned the way the peer documents it (created while
running without auth, then restarted with `--auth`): `root` (root), `writer` (readWrite on `fwd`), `reader` (read on
`fwd`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def executable() -> str:
    found = shutil.which("secantusd-py") or str(Path(sys.executable).parent / "secantusd-py")
    if not Path(found).exists():
        raise RuntimeError("secantusd-py not found: install the dev group (uv sync --frozen)")
    return found


class Peer:
    """One secantusd-py process: its port and storage outlive a stop, so a restart finds its documents."""

    def __init__(self, storage: Path, *, auth: bool = False, port: int | None = None) -> None:
        self.storage, self.auth, self.port = storage, auth, port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = storage.parent / f"{storage.name}.log"

    def uri(self, user: str | None = None, password: str | None = None, auth_source: str | None = None) -> str:
        creds = f"{user}:{password}@" if user else ""
        query = f"?authSource={auth_source}" if auth_source else ""
        return f"mongodb://{creds}127.0.0.1:{self.port}/{query}"

    def start(self) -> None:
        if self.process is not None:
            return
        command = [executable(), "--port", str(self.port), "--storage-path", str(self.storage)]
        command += ["--host", "127.0.0.1", "--log-level", "WARNING"]
        if self.auth:
            command.append("--auth")
        with open(self.log, "ab") as log:
            # Its own session: stop() signals the whole group, never anything else.
            self.process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"secantusd-py exited with {self.process.returncode}; see {self.log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
                client: MongoClient[dict[str, object]] = MongoClient(self.uri(), serverSelectionTimeoutMS=1000)
                try:
                    client.admin.command("hello")
                    return
                finally:
                    client.close()
            except Exception:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"secantusd-py did not answer within {START_TIMEOUT_SECONDS} s; see {self.log}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def client(self, uri: str | None = None) -> MongoClient[dict[str, object]]:
        return MongoClient(uri or self.uri(), serverSelectionTimeoutMS=5000, tz_aware=True)


@pytest.fixture(scope="session")
def mongo_peer() -> Iterator[Peer]:
    base = Path(tempfile.mkdtemp(prefix="mongo-peer-"))
    peer = Peer(base / "data")
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()
        shutil.rmtree(base, ignore_errors=True)


AUTH_DATABASE = "fwd"
USERS = {"root": "root-pw", "writer": "writer-pw", "reader": "reader-pw"}


@pytest.fixture(scope="session")
def mongo_auth_peer() -> Iterator[Peer]:
    base = Path(tempfile.mkdtemp(prefix="mongo-auth-peer-"))
    peer = Peer(base / "data")
    peer.start()
    try:
        with peer.client() as c:
            c.admin.command("createUser", "root", pwd=USERS["root"], roles=["root"])
            c[AUTH_DATABASE].command("createUser", "writer", pwd=USERS["writer"], roles=["readWrite"])
            c[AUTH_DATABASE].command("createUser", "reader", pwd=USERS["reader"], roles=["read"])
        peer.stop()
        peer.auth = True
        peer.start()
        yield peer
    finally:
        peer.stop()
        shutil.rmtree(base, ignore_errors=True)
