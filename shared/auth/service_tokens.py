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


def mint(
    secret: str,
    *,
    caller: str,
    audience: str,
    org_id: str | None,
    subject: str | None = None,
    role: str | None = None,
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
    return ServiceIdentity(caller=iss[4:], org_id=claims.get("org"), subject=claims.get("sub"), role=claims.get("role"))
