"""Short-lived tokens by which one service tells another who calls and for which organisation.

The internal APIs trust nothing else: the organisation a query runs for comes from this
token, never from a request parameter.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

TTL_SECONDS = 120


@dataclass(frozen=True)
class ServiceIdentity:
    caller: str
    org_id: str | None
    subject: str | None
    role: str | None
    provider_id: str | None = None
    """Set for a provider user (role `provider`): every call of theirs is scoped to this provider."""


def mint(
    secret: str,
    *,
    caller: str,
    audience: str,
    org_id: str | None,
    subject: str | None = None,
    role: str | None = None,
    provider_id: str | None = None,
    ttl: int = TTL_SECONDS,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": f"svc:{caller}", "aud": f"svc:{audience}", "iat": now, "exp": now + ttl}
    if org_id:
        claims["org"] = org_id
    if subject:
        claims["sub"] = subject
    if role:
        claims["role"] = role
    if provider_id:
        claims["provider"] = provider_id
    return jwt.encode(claims, secret, algorithm="HS256")


def verify(secret: str, token: str, *, audience: str) -> ServiceIdentity:
    claims = jwt.decode(
        token,
        secret,
        algorithms=["HS256"],
        audience=f"svc:{audience}",
        options={"require": ["exp", "iss", "aud"]},
        leeway=5,
    )
    iss = str(claims["iss"])
    if not iss.startswith("svc:"):
        raise jwt.InvalidIssuerError("not a service token")
    role, provider_id = claims.get("role"), claims.get("provider")
    if (role == "provider") != bool(provider_id):
        # A provider user without their provider would be scoped to nothing: refuse the token outright.
        raise jwt.InvalidTokenError("a provider role needs its provider, and only it has one")
    return ServiceIdentity(
        caller=iss[4:], org_id=claims.get("org"), subject=claims.get("sub"), role=role, provider_id=provider_id
    )
