"""Credentials at rest (provider webhook secrets today; Mixpanel and MongoDB credentials later).

A database backup must not be enough to forge a provider's signature, so a stored credential is a
Fernet token (AES-128-CBC + HMAC-SHA256, from `cryptography`) under a key the database never holds:
`SECRETS_ENCRYPTION_KEYS`, comma-separated Fernet keys. The first key encrypts, every key decrypts,
which is the rotation story: put the new key first, keep the old one after it, re-encrypt everything
(`python -m services.orders.admin encrypt-secrets`), then drop the old key.

Stored values carry a version tag (`enc:v1:`), so that a value written before encryption (legacy
plaintext) is told apart from a token, and a later scheme can be introduced next to this one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from shared.config import DEVELOPMENT_SECRETS_KEY, Settings, get_settings

log = logging.getLogger(__name__)

PREFIX = "enc:v1:"
ENV_NAME = "SECRETS_ENCRYPTION_KEYS"

# DEVELOPMENT_SECRETS_KEY (shared/config.py) is published on purpose: development and tests work without
# setting anything, and production refuses it (PUBLISHED_SECRETS at start-up, and SecretBox below).
__all__ = ["DEVELOPMENT_SECRETS_KEY", "PREFIX", "SecretBox", "SecretKeyError", "secret_box"]


class SecretKeyError(RuntimeError):
    """The configured keys are malformed, or none of them opens a stored token: a configuration
    problem (a key was dropped too early, or the wrong key deployed), never a bug in the request."""


class SecretBox:
    """Encrypts credentials with the first key, decrypts with any key (MultiFernet)."""

    def __init__(self, keys: Sequence[str], *, production: bool = False) -> None:
        keys = [k.strip() for k in keys if k.strip()]
        if not keys:
            raise SecretKeyError(f"{ENV_NAME} holds no key")
        if production and DEVELOPMENT_SECRETS_KEY in keys:
            raise SecretKeyError(f"{ENV_NAME} holds the development key published in the repository")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.encode()))
            except ValueError:
                # Never echo the key: it would end up in logs.
                raise SecretKeyError(
                    f"{ENV_NAME} key #{position} is not a Fernet key (32 url-safe base64-encoded bytes)"
                ) from None
        self._box = MultiFernet(fernets)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> SecretBox:
        settings = settings or get_settings()
        return cls(settings.secrets_encryption_keys.split(","), production=settings.production)

    @staticmethod
    def generate_key() -> str:
        """A new random key, for operators adding one before a rotation."""
        return Fernet.generate_key().decode()

    @staticmethod
    def is_encrypted(value: str) -> bool:
        return value.startswith(PREFIX)

    def encrypt(self, plaintext: str) -> str:
        return PREFIX + self._box.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The plaintext of a token; SecretKeyError when no configured key opens it."""
        if not self.is_encrypted(token):
            raise ValueError("not an encrypted value (no version tag)")
        try:
            return self._box.decrypt(token.removeprefix(PREFIX).encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                f"a stored secret cannot be decrypted with any key of {ENV_NAME}"
                " (a key was removed before re-encrypting, or the wrong key is deployed)"
            ) from None

    def rotate(self, token: str) -> str:
        """The same secret under the current (first) key; legacy plaintext is encrypted."""
        if not self.is_encrypted(token):
            return self.encrypt(token)
        try:
            return PREFIX + self._box.rotate(token.removeprefix(PREFIX).encode()).decode()
        except InvalidToken:
            raise SecretKeyError(f"a stored secret cannot be decrypted with any key of {ENV_NAME}") from None

    def reveal(self, stored: str, what: str) -> str:
        """A stored value in clear: a token is decrypted; legacy plaintext (written before encryption,
        until `encrypt-secrets` runs) is accepted so a deployment keeps working, with one warning per
        process naming `what` (never the value)."""
        if self.is_encrypted(stored):
            return self.decrypt(stored)
        if what not in _warned_plaintext:
            _warned_plaintext.add(what)
            log.warning("%s is stored in plain text; run `python -m services.orders.admin encrypt-secrets`", what)
        return stored


_warned_plaintext: set[str] = set()
_boxes: dict[tuple[str, bool], SecretBox] = {}


def secret_box(settings: Settings | None = None) -> SecretBox:
    """The process's box, built once per key list (key parsing is not free, and errors surface early)."""
    settings = settings or get_settings()
    cache_key = (settings.secrets_encryption_keys, settings.production)
    box = _boxes.get(cache_key)
    if box is None:
        box = _boxes[cache_key] = SecretBox.from_settings(settings)
    return box
