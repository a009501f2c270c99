"""Who is calling the gateway: a dashboard user, resolved to one organisation and role."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from uuid import UUID

from services.gateway.clients import OrdersClient, ServiceError
from shared.auth.user_tokens import InvalidToken, JwksVerifier


@dataclass(frozen=True)
class Viewer:
    subject: str
    email: str | None
    org_id: str
    org_name: str
    role: str
    member_id: str
    provider_id: str | None = None
    """A provider user's provider (role `provider`): the orders service scopes all they do to it."""


class ViewerCache:
    """Resolved viewers per (token, organisation hint) for a few seconds.

    Saves the JWT verification and the membership call on every request of a dashboard
    session. Bounded in size, never past the token's own expiry; a member who is removed
    or demoted keeps their old rights for at most `ttl` seconds (AUTH_CACHE_SECONDS; 0 turns
    it off). Each gateway replica has its own: nothing here is treated as truth.
    """

    def __init__(self, ttl: float, max_entries: int = 20_000) -> None:
        self.ttl, self.max_entries = ttl, max_entries
        self._entries: dict[tuple[str, str | None], tuple[float, Viewer]] = {}

    def get(self, token: str, org_hint: str | None) -> Viewer | None:
        hit = self._entries.get((token, org_hint))
        if hit is None:
            return None
        if hit[0] <= time.time():
            self._entries.pop((token, org_hint), None)
            return None
        return hit[1]

    def put(self, token: str, org_hint: str | None, viewer: Viewer, token_exp: float) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        # Expiries spread over the last fifth of the ttl (never later than it): viewers cached in the same
        # moment (a burst of sessions) do not all need their membership call again in the same moment.
        ttl = self.ttl * random.uniform(0.8, 1.0)
        self._entries[(token, org_hint)] = (min(time.time() + ttl, token_exp), viewer)


class NotAuthenticated(Exception):
    pass


class NoMembership(Exception):
    pass


async def authenticate(
    authorization: str | None,
    org_hint: str | None,
    verifier: JwksVerifier,
    orders: OrdersClient,
    cache: ViewerCache | None = None,
) -> Viewer:
    if not authorization or authorization[:7].lower() != "bearer ":
        raise NotAuthenticated("missing bearer token")
    token = authorization[7:].strip()
    if cache is not None and (viewer := cache.get(token, org_hint)) is not None:
        return viewer
    try:
        claims = await verifier.verify(token)
    except InvalidToken as exc:
        raise NotAuthenticated(str(exc)) from exc
    subject = str(claims["sub"])
    # An invitation is claimed by email only when the issuer vouches for the address (`email_verified` is
    # exactly true): anyone can open an account under someone else's address at many identity providers.
    # A user whose subject is bound already needs no email at all.
    email = (
        claims.get("email") if isinstance(claims.get("email"), str) and claims.get("email_verified") is True else None
    )
    if email is not None and len(email) > 320:  # longer than any address (RFC 5321); the lookup would refuse it
        email = None
    memberships = await orders.memberships(subject, email)
    if org_hint:
        try:
            UUID(org_hint)
        except ValueError:
            raise NoMembership("X-Organisation-Id is not a valid id") from None
        memberships = [m for m in memberships if m["org_id"] == org_hint]
    if not memberships:
        raise NoMembership("you are not a member of this organisation")
    m = memberships[0]
    if m["status"] == "invited":
        # First sign-in with the invited email: bind the invitation to this user. Revoked (or claimed by
        # another account) since the lookup above: no membership, rather than a viewer for a deleted member.
        try:
            await orders.activate_member(m["org_id"], subject, m["member_id"])
        except ServiceError as exc:
            if exc.status == 404:
                raise NoMembership("the invitation was withdrawn") from None
            raise
    viewer = Viewer(
        subject=subject,
        email=email,
        org_id=m["org_id"],
        org_name=m["org_name"],
        role=m["role"],
        member_id=m["member_id"],
        provider_id=str(m["provider_id"]) if m.get("provider_id") else None,
    )
    if cache is not None:
        cache.put(token, org_hint, viewer, float(claims["exp"]))
    return viewer
