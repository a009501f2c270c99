"""Who is calling the gateway: a dashboard user, resolved to one organisation and role."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from services.gateway.orders_client import OrdersClient
from shared.auth.user_tokens import InvalidToken, JwksVerifier


@dataclass(frozen=True)
class Viewer:
    subject: str
    email: str | None
    org_id: str
    org_name: str
    role: str
    member_id: str


class NotAuthenticated(Exception):
    pass


class NoMembership(Exception):
    pass


async def authenticate(authorization: str | None, org_hint: str | None, verifier: JwksVerifier,
                       orders: OrdersClient) -> Viewer:
    if not authorization or authorization[:7].lower() != "bearer ":
        raise NotAuthenticated("missing bearer token")
    try:
        claims = await verifier.verify(authorization[7:].strip())
    except InvalidToken as exc:
        raise NotAuthenticated(str(exc)) from exc
    subject = str(claims["sub"])
    # An invitation is bound by email only when the issuer vouches for the address.
    email = claims.get("email") if isinstance(claims.get("email"), str) and claims.get("email_verified") is True else None
    if email is not None and len(email) > 320:  # longer than any address (RFC 5321); the lookup would refuse it
        email = None
    memberships = await orders.call("POST", "/internal/auth/memberships", json={"subject": subject, "email": email})
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
        # First sign-in with the invited email: bind the invitation to this user.
        await orders.call("POST", "/internal/auth/activate", org_id=m["org_id"], subject=subject,
                          json={"memberId": m["member_id"]})
    return Viewer(subject=subject, email=email, org_id=m["org_id"], org_name=m["org_name"], role=m["role"],
                  member_id=m["member_id"])
