"""Provider webhook secrets are encrypted at rest with a key the database never holds (shared/secrets.py).

A database backup alone must not be enough to sign a provider's webhooks; key rotation and the
legacy plaintext rows written before encryption are covered end to end (gateway → orders API → SQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from services.orders import admin
from services.orders.api import catalogue as catalogue_api
from shared.auth import service_tokens
from shared.config import (
    DEVELOPMENT_SECRETS_KEY,
    InsecureConfiguration,
    Settings,
    check_production_secrets,
    get_settings,
)
from shared.secrets import PREFIX, SecretBox, SecretKeyError
from tests.factories import commission_body, create_order, signed_headers

NEW = SecretBox.generate_key()


# --- SecretBox ----------------------------------------------------------------------------------


def test_a_box_round_trips_and_never_shows_the_plaintext() -> None:
    box = SecretBox([NEW])
    token = box.encrypt("whsec_abc")
    assert token.startswith(PREFIX) and "whsec_abc" not in token
    assert box.decrypt(token) == "whsec_abc"
    assert box.encrypt("whsec_abc") != token  # random IV: equal secrets do not look equal at rest


def test_rotation_first_key_encrypts_every_key_decrypts() -> None:
    old = SecretBox([DEVELOPMENT_SECRETS_KEY]).encrypt("whsec_old")
    both = SecretBox([NEW, DEVELOPMENT_SECRETS_KEY])
    assert both.decrypt(old) == "whsec_old"
    rotated = both.rotate(old)
    assert SecretBox([NEW]).decrypt(rotated) == "whsec_old"
    with pytest.raises(SecretKeyError, match="SECRETS_ENCRYPTION_KEYS"):
        SecretBox([DEVELOPMENT_SECRETS_KEY]).decrypt(rotated)
    assert SecretBox([NEW]).decrypt(both.rotate("whsec_plain")) == "whsec_plain"  # legacy plaintext


def test_bad_keys_are_named_without_echoing_them() -> None:
    with pytest.raises(SecretKeyError, match="key #2 is not a Fernet key") as exc:
        SecretBox([NEW, "not-a-key-at-all"])
    assert "not-a-key-at-all" not in str(exc.value)
    with pytest.raises(SecretKeyError, match="no key"):
        SecretBox([" ", ""])
    with pytest.raises(SecretKeyError, match="published"):
        SecretBox([NEW, DEVELOPMENT_SECRETS_KEY], production=True)
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        SecretBox([NEW]).decrypt(PREFIX + "garbage")


def test_legacy_plaintext_is_revealed_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    box = SecretBox([NEW])
    what = f"test secret {uuid.uuid4()}"
    with caplog.at_level(logging.WARNING, logger="shared.secrets"):
        assert box.reveal("whsec_legacy", what) == "whsec_legacy"
        assert box.reveal("whsec_legacy", what) == "whsec_legacy"
        assert box.reveal(box.encrypt("whsec_new"), what) == "whsec_new"
    warnings = [r for r in caplog.records if what in r.getMessage()]
    assert len(warnings) == 1 and "encrypt-secrets" in warnings[0].getMessage()


def test_production_refuses_the_development_key_for_the_orders_service() -> None:
    import dataclasses

    prod = dataclasses.replace(Settings(), environment="production", secrets_encryption_keys=DEVELOPMENT_SECRETS_KEY)
    with pytest.raises(InsecureConfiguration, match="SECRETS_ENCRYPTION_KEYS"):
        check_production_secrets(prod, ("SECRETS_ENCRYPTION_KEYS",))
    check_production_secrets(dataclasses.replace(prod, secrets_encryption_keys=NEW), ("SECRETS_ENCRYPTION_KEYS",))


# --- at rest and end to end -----------------------------------------------------------------------


async def _stored(owner_pool: Any, provider_id: Any) -> str:
    async with owner_pool.acquire() as conn:
        value: str = await conn.fetchval("SELECT webhook_secret FROM providers WHERE id = $1", provider_id)
    return value


async def _send_webhook(gateway: Any, pool: Any, tenant: Any) -> Any:
    order = await create_order(pool, tenant, ref=f"enc-{uuid.uuid4().hex[:8]}")
    body = commission_body(order["id"], 1, "SUCCESSFUL", "PENDING", "12.50", "GBP")
    headers = signed_headers(tenant.provider["webhook_secret"], body, "msg-" + uuid.uuid4().hex)
    return await gateway.post(
        f"/webhooks/providers/{tenant.provider['public_id']}/commission", content=body, headers=headers
    )


async def test_the_column_never_holds_the_secret_and_webhooks_still_verify(gateway, pool, owner_pool, tenant):
    stored = await _stored(owner_pool, tenant.provider["id"])
    assert stored.startswith(PREFIX) and "whsec_" not in stored
    assert tenant.provider["webhook_secret"] not in stored
    r = await _send_webhook(gateway, pool, tenant)
    assert r.status_code == 202, r.text


def _run_cli(capsys: Any, *argv: str) -> tuple[int, Any, str]:
    code = admin.main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else None, err


@contextlib.contextmanager
def _keys(monkeypatch: pytest.MonkeyPatch, keys: str) -> Iterator[None]:
    """SECRETS_ENCRYPTION_KEYS as an operator would set it for one command."""
    with monkeypatch.context() as m:
        m.setenv("SECRETS_ENCRYPTION_KEYS", keys)
        get_settings.cache_clear()
        try:
            yield
        finally:
            get_settings.cache_clear()
    get_settings.cache_clear()


async def _encrypt_secrets(capsys: Any, monkeypatch: pytest.MonkeyPatch, keys: str) -> tuple[int, Any, str]:
    with _keys(monkeypatch, keys):
        return await asyncio.to_thread(_run_cli, capsys, "encrypt-secrets")


async def test_rotation_re_encrypts_every_secret_with_the_new_key(capsys, monkeypatch, owner_pool, tenant):
    old = await _stored(owner_pool, tenant.provider["id"])
    try:
        code, counts, err = await _encrypt_secrets(capsys, monkeypatch, f"{NEW},{DEVELOPMENT_SECRETS_KEY}")
        assert code == 0, err
        assert counts["reencrypted"] >= 1
        rotated = await _stored(owner_pool, tenant.provider["id"])
        assert rotated != old and rotated.startswith(PREFIX)
        async with owner_pool.acquire() as conn:
            everything = [r["webhook_secret"] for r in await conn.fetch("SELECT webhook_secret FROM providers")]
        only_new = SecretBox([NEW])
        assert all(only_new.decrypt(v).startswith("whsec_") for v in everything)  # the old key can go
        assert only_new.decrypt(rotated) == tenant.provider["webhook_secret"]
        # A key missing for a row: refused by name, and nothing changes (one transaction).
        code, _, err = await _encrypt_secrets(capsys, monkeypatch, SecretBox.generate_key())
        assert code == 2 and "SECRETS_ENCRYPTION_KEYS" in err and "Traceback" not in err
        assert await _stored(owner_pool, tenant.provider["id"]) == rotated
    finally:
        # The session's services use the development key: rotate back (itself a rotation, NEW → DEV).
        code, _, err = await _encrypt_secrets(capsys, monkeypatch, f"{DEVELOPMENT_SECRETS_KEY},{NEW}")
        assert code == 0, err
    assert (
        SecretBox([DEVELOPMENT_SECRETS_KEY]).decrypt(await _stored(owner_pool, tenant.provider["id"]))
        == (tenant.provider["webhook_secret"])
    )


async def test_legacy_plaintext_still_verifies_and_the_command_encrypts_it(
    capsys, monkeypatch, gateway, pool, owner_pool, tenant
):
    async with owner_pool.acquire() as conn:
        await conn.execute(
            "UPDATE providers SET webhook_secret = $2 WHERE id = $1",
            tenant.provider["id"],
            tenant.provider["webhook_secret"],
        )
    r = await _send_webhook(gateway, pool, tenant)
    assert r.status_code == 202, r.text
    code, counts, err = await _encrypt_secrets(capsys, monkeypatch, DEVELOPMENT_SECRETS_KEY)
    assert code == 0 and counts["encrypted"] >= 1, err
    stored = await _stored(owner_pool, tenant.provider["id"])
    assert stored.startswith(PREFIX)
    assert SecretBox([DEVELOPMENT_SECRETS_KEY]).decrypt(stored) == tenant.provider["webhook_secret"]


async def test_a_wrong_key_is_a_named_configuration_problem_not_a_crash(
    monkeypatch, caplog, gateway, orders_api, settings, tenant
):
    wrong = SecretBox([SecretBox.generate_key()])
    monkeypatch.setattr(catalogue_api, "secret_box", lambda _settings=None: wrong)
    monkeypatch.setattr(catalogue_api, "_reported_key_problems", set())
    token = service_tokens.mint(settings.service_token_secret, caller="gateway", audience="orders", org_id=None)
    with caplog.at_level(logging.ERROR, logger=catalogue_api.__name__):
        for _ in range(2):
            r = await orders_api.get(
                f"/internal/providers/{tenant.provider['public_id']}/webhook-secret",
                headers={"authorization": f"Bearer {token}"},
            )
            assert r.status_code == 503
            error = r.json()
            assert "UNAVAILABLE" in json.dumps(error) and "SECRETS_ENCRYPTION_KEYS" in json.dumps(error)
            assert "whsec_" not in r.text and "Traceback" not in r.text
        # Through the gateway: the provider is told to retry later (it will, once the key is fixed).
        body = commission_body(uuid.uuid4(), 1, "SUCCESSFUL")
        headers = signed_headers(tenant.provider["webhook_secret"], body, "msg-" + uuid.uuid4().hex)
        r = await gateway.post(
            f"/webhooks/providers/{tenant.provider['public_id']}/commission", content=body, headers=headers
        )
        assert r.status_code == 503
    logged = [r for r in caplog.records if "cannot be decrypted" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is None
