"""`encrypt-secrets` of the insights (Mixpanel credentials) and reports (MongoDB URIs) services: every stored
token re-encrypted under the new first key, readable with it alone; a key missing refused by name with nothing
changed; rotated back at the end (the session's services use the development key)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from services.insights import admin as insights_admin
from services.reports import admin as reports_admin
from shared.config import DEVELOPMENT_SECRETS_KEY, get_settings
from shared.secret_rotation import StoredSecrets
from shared.secrets import PREFIX, SecretBox

NEW = SecretBox.generate_key()
DEV = SecretBox([DEVELOPMENT_SECRETS_KEY])


@contextlib.contextmanager
def _keys(monkeypatch: pytest.MonkeyPatch, keys: str) -> Iterator[None]:
    with monkeypatch.context() as m:
        m.setenv("SECRETS_ENCRYPTION_KEYS", keys)
        get_settings.cache_clear()
        try:
            yield
        finally:
            get_settings.cache_clear()
    get_settings.cache_clear()


@contextlib.asynccontextmanager
async def _owner(settings: Any, service: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(settings.service_database_url(service, "owner"))
    try:
        yield conn
    finally:
        await conn.close()


async def _insert_mixpanel(conn: asyncpg.Connection, org_id: uuid.UUID) -> dict[str, str]:
    plain = {"token_enc": "tok-" + uuid.uuid4().hex, "username_enc": "sa.user", "secret_enc": "sa-" + uuid.uuid4().hex}
    await conn.execute(
        """INSERT INTO mixpanel_connections (org_id, id, project_id, region, token_enc, username_enc, secret_enc,
                                             forward_contacts, event_types, boundary_xid, backfill_from)
           VALUES ($1, gen_random_uuid(), '424242', 'EU', $2, $3, $4, false, '{}', pg_current_xact_id(), now())""",
        org_id,
        DEV.encrypt(plain["token_enc"]),
        DEV.encrypt(plain["username_enc"]),
        plain["secret_enc"],  # written before encryption (legacy plain text): the command encrypts it
    )
    return plain


async def _insert_mongo(conn: asyncpg.Connection, org_id: uuid.UUID) -> dict[str, str]:
    plain = {"uri_secret": f"mongodb://u:{uuid.uuid4().hex}@db.example:27017/"}
    now = datetime.now(UTC)
    await conn.execute(
        """INSERT INTO mongo_connections (org_id, id, uri_secret, display_uri, database, collections, created_by,
                                          created_at, updated_at)
           VALUES ($1, gen_random_uuid(), $2, 'mongodb://***:***@db.example:27017/', 'partner', '{orders}', 'test',
                   $3, $3)""",
        org_id,
        DEV.encrypt(plain["uri_secret"]),
        now,
    )
    return plain


async def _read(conn: asyncpg.Connection, place: StoredSecrets, org_id: uuid.UUID) -> dict[str, str]:
    row = await conn.fetchrow(f"SELECT {', '.join(place.columns)} FROM {place.table} WHERE org_id = $1", org_id)
    return dict(row)


@pytest.mark.parametrize(
    ("service", "admin", "insert"),
    [("insights", insights_admin, _insert_mixpanel), ("reports", reports_admin, _insert_mongo)],
)
async def test_encrypt_secrets_rotates_every_credential_and_refuses_a_missing_key(
    settings: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch, service: str, admin: Any, insert: Any
) -> None:
    (place,) = admin.STORED_SECRETS
    org_id = uuid.uuid4()

    def run(keys: str) -> tuple[int, Any, str]:
        with _keys(monkeypatch, keys):
            code = admin.main(["encrypt-secrets"])
        out, err = capsys.readouterr()
        return code, json.loads(out) if code == 0 else None, err

    async with _owner(settings, service) as conn:
        plain = await insert(conn, org_id)
        try:
            before = await _read(conn, place, org_id)
            code, counts, err = await asyncio.to_thread(run, f"{NEW},{DEVELOPMENT_SECRETS_KEY}")
            assert code == 0, err
            assert counts["reencrypted"] + counts["encrypted"] >= len(place.columns)
            rotated = await _read(conn, place, org_id)
            only_new = SecretBox([NEW])
            for column in place.columns:
                assert rotated[column].startswith(PREFIX) and rotated[column] != before[column]
                assert plain[column] not in rotated[column]
                assert only_new.decrypt(rotated[column]) == plain[column]  # the old key can go
            # A key that opens nothing: refused by name, no traceback, every row as it was (one transaction).
            code, _, err = await asyncio.to_thread(run, SecretBox.generate_key())
            assert code == 2 and "SECRETS_ENCRYPTION_KEYS" in err and "Traceback" not in err
            assert await _read(conn, place, org_id) == rotated
        finally:
            code, _, err = await asyncio.to_thread(run, f"{DEVELOPMENT_SECRETS_KEY},{NEW}")
            assert code == 0, err
            back = await _read(conn, place, org_id)
            assert all(DEV.decrypt(back[c]) == plain[c] for c in place.columns)
            await conn.execute(f"DELETE FROM {place.table} WHERE org_id = $1", org_id)
