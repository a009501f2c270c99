"""Organisations, their settings and their team, with the events other services keep copies from.

Invitations are emailed in the transaction that makes them (`shared.mail.request_mail`): the mail is an
outbox row committed with the member row, sent by the mail actors once the relay hands it over. So an
invitation that rolls back (a duplicate email, a refused role) sends nothing, and one that committed
cannot be lost between the commit and the queue (a crash there, or Redis down then, only delays it).
Each email's idempotency key is the member id and the invitation version: a resend is a new email,
a redelivery of one is not.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.orders.domain.settings import SettingsUpdate, python_zones
from services.orders.repository import catalogue, members, organisations
from shared import zone_rules
from shared.errors import Conflict, DomainError, ErrorCode, NotFound
from shared.mail import Mail, request_mail
from shared.messaging import contracts
from shared.messaging.outbox import add_event

log = logging.getLogger(__name__)


async def _publish(conn: asyncpg.Connection, org: dict[str, Any], event_type: str) -> None:
    await add_event(conn, org["id"], event_type, {f: org[f] for f in contracts.ORGANISATION_SETTINGS_FIELDS})


@dataclass(frozen=True)
class ZoneSupport:
    """Which zones an organisation may use: those Python (the pinned tzdata package) and PostgreSQL both
    know, by the same rules. A server whose rules are older than the platform's would put an order at
    local midnight on another day than the one Python's date ranges ask for; such zones are refused."""

    database: frozenset[str]  # every zone PostgreSQL knows
    differing: frozenset[str]  # zones both know whose UTC offsets differ at `zone_rules.sample_instants()`
    accepted: tuple[str, ...]  # sorted

    @classmethod
    def compare(cls, database_offsets: Mapping[str, Sequence[int]], instants: Sequence[datetime]) -> ZoneSupport:
        """From the database's UTC offsets (seconds) of each zone at `instants`, in that order."""
        database = frozenset(database_offsets)
        differing = zone_rules.differing_zones(
            {z: o for z, o in database_offsets.items() if z in python_zones()}, instants
        )
        return cls(database, differing, tuple(sorted((python_zones() & database) - differing)))

    def check(self, time_zone: str) -> None:
        """Refuses, naming `timeZone`, a zone that is not in `accepted` (the validator checked Python knows it)."""
        if time_zone not in self.database:
            raise DomainError(
                ErrorCode.INVALID_INPUT, f"{time_zone} is not a time zone the database knows; see timeZones", "timeZone"
            )
        if time_zone in self.differing:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"{time_zone}: the database server's zone rules differ from the platform's (tzdata "
                f"{zone_rules.IANA_VERSION}); update the server's tzdata, or choose a zone timeZones lists",
                "timeZone",
            )


# Once per process: the server's zone rules change only with its tzdata, which takes a restart to read.
_zone_support: ZoneSupport | None = None


async def zone_support(conn: asyncpg.Connection) -> ZoneSupport:
    """The process's `ZoneSupport`: one query the first time, the cached answer afterwards."""
    global _zone_support
    if _zone_support is None:
        instants = zone_rules.sample_instants()
        support = ZoneSupport.compare(await organisations.database_zone_offsets(conn, instants), instants)
        if _zone_support is None:  # two first requests at once: keep one, log once
            _zone_support = support
            if support.differing:
                log.warning(
                    "%d time zones differ between the database server's zone rules and the platform's (tzdata %s) "
                    "and are refused until the server's tzdata is updated (names PostgreSQL also reads as fixed "
                    "abbreviations, such as CET, always differ): %s",
                    len(support.differing),
                    zone_rules.IANA_VERSION,
                    ", ".join(sorted(support.differing)[:5]) + (", ..." if len(support.differing) > 5 else ""),
                )
    return _zone_support


async def check_zone_rules(pool: asyncpg.Pool) -> None:
    """At startup: compares the database's zone rules with the platform's (logging what differs) before a
    request needs them. A database that does not answer yet is compared on first use instead."""
    try:
        async with pool.acquire() as conn:
            await zone_support(conn)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        log.info("time zone rules not compared at startup (%s): compared on first use", exc)


async def supported_time_zones(conn: asyncpg.Connection) -> list[str]:
    """Zones both Python and PostgreSQL know, by the same rules: the only ones an organisation may use."""
    return list((await zone_support(conn)).accepted)


async def _check_zone_known_to_database(conn: asyncpg.Connection, time_zone: str) -> None:
    (await zone_support(conn)).check(time_zone)


async def create(
    conn: asyncpg.Connection,
    org_id: UUID,
    name: str,
    *,
    base_currency: str = "GBP",
    time_zone: str = "Europe/London",
    marketplace_url: str | None = None,
) -> dict[str, Any]:
    """A new organisation; the caller's transaction must already be scoped to `org_id`."""
    await _check_zone_known_to_database(conn, time_zone)
    org = await organisations.create(
        conn, org_id, name, base_currency=base_currency, time_zone=time_zone, marketplace_url=marketplace_url
    )
    await _publish(conn, org, contracts.ORGANISATION_CREATED)
    return org


async def update_settings(conn: asyncpg.Connection, org_id: UUID, change: SettingsUpdate) -> dict[str, Any]:
    current = await organisations.get_for_update(conn, org_id)
    values = change.model_dump(exclude_unset=True)
    if not values:
        return current
    if "time_zone" in values:
        await _check_zone_known_to_database(conn, values["time_zone"])
    org = await organisations.update(conn, org_id, values)
    if org["time_zone"] != current["time_zone"]:
        # Daily buckets are days of the organisation's time zone: re-bucket in the same transaction.
        await organisations.rebuild_rollups(conn, org_id)
    if any(org[f] != current[f] for f in contracts.ORGANISATION_SETTINGS_FIELDS):
        await _publish(conn, org, contracts.ORGANISATION_SETTINGS_CHANGED)
    return org


async def republish_all(conn: asyncpg.Connection) -> int:
    """Writes a settings event for every organisation (the backfill of other services' copies).

    Runs as the owner role, across organisations: an operator's command, never a request.
    """
    count = 0
    for org in await organisations.list_all(conn):
        await _publish(conn, org, contracts.ORGANISATION_SETTINGS_CHANGED)
        count += 1
    return count


def invitation_key(member_id: UUID, version: int) -> str:
    """The idempotency key of one invitation email."""
    return f"invitation:{member_id}:{version}"


def invitation_mail(*, org_name: str, email: str, role: str, inviter_email: str | None, sign_in_url: str) -> Mail:
    """The invitation email: who invites whom to which organisation, and where to sign in.

    Plain text: it reads the same in every mail program and carries nothing to escape. Replies go to the
    admin who invited (when there is one), not to the no-reply sender.
    """
    who = inviter_email or f"An admin of {org_name}"
    as_role = {"admin": "an admin", "provider": "a provider user (to update your orders' commission)"}.get(
        role, "a member"
    )
    text = (
        f"Hello,\n\n"
        f"{who} invited you to join {org_name} on the partner platform as {as_role}.\n\n"
        f"To accept, sign in with this email address ({email}):\n\n"
        f"    {sign_in_url}\n\n"
        f"The invitation stays open until you sign in or an admin of {org_name} withdraws it. "
        f"If you did not expect it, you can ignore this email.\n"
    )
    return Mail(to=email, subject=f"You are invited to join {org_name}", text=text, reply_to=inviter_email)


async def _mail_invitation(
    conn: asyncpg.Connection, org_id: UUID, member: dict[str, Any], inviter_email: str | None, sign_in_url: str
) -> None:
    org = await organisations.get(conn, org_id)
    mail = invitation_mail(
        org_name=org["name"],
        email=member["email"],
        role=member["role"],
        inviter_email=inviter_email,
        sign_in_url=sign_in_url,
    )
    await request_mail(conn, org_id, invitation_key(member["id"], member["invitation_version"]), mail)


async def invite(
    conn: asyncpg.Connection, org_id: UUID, email: str, role: str, inviter_subject: str | None, *, sign_in_url: str
) -> dict[str, Any]:
    """A pending member, and its invitation email (sent once this transaction commits)."""
    inviter = await members.by_subject(conn, org_id, inviter_subject) if inviter_subject else None
    member = await members.add(conn, org_id, email, role, invited_by=inviter["id"] if inviter else None)
    await _mail_invitation(conn, org_id, member, inviter["email"] if inviter else None, sign_in_url)
    return member


async def invite_provider_user(
    conn: asyncpg.Connection, org_id: UUID, provider: str, email: str, *, sign_in_url: str
) -> dict[str, Any]:
    """A provider's staff member invited by the operator (never by the partner: the seed gives commission
    updates to the provider). They sign in like anyone else, with a verified email, and see that provider's
    orders only. `provider` is its id or public id."""
    found = await catalogue.find_provider(conn, org_id, provider)
    if found is None:
        raise NotFound("provider", "provider")
    member = await members.add(conn, org_id, email, "provider", provider_id=found["id"])
    await _mail_invitation(conn, org_id, member, None, sign_in_url)
    return member


async def _pending(conn: asyncpg.Connection, org_id: UUID, member_id: UUID, refusal: str) -> dict[str, Any]:
    """The pending invitation `member_id`, locked; refused when that member has joined already."""
    current = await members.get_for_update(conn, org_id, member_id)
    if current is None:
        raise NotFound("member", "memberId")
    if current["status"] != "invited":
        raise Conflict(ErrorCode.ALREADY_MEMBER, refusal, "memberId")
    return current


async def resend_invitation(
    conn: asyncpg.Connection, org_id: UUID, member_id: UUID, acting_subject: str | None, *, sign_in_url: str
) -> dict[str, Any]:
    """Sends a pending invitation again, as its next version (a new email, from the admin resending it)."""
    await _pending(conn, org_id, member_id, "this member has accepted the invitation already")
    member = await members.renew_invitation(conn, org_id, member_id)
    assert member is not None  # locked as pending above
    acting = await members.by_subject(conn, org_id, acting_subject) if acting_subject else None
    await _mail_invitation(conn, org_id, member, acting["email"] if acting else None, sign_in_url)
    return member


async def revoke_invitation(conn: asyncpg.Connection, org_id: UUID, member_id: UUID) -> dict[str, Any]:
    """Withdraws a pending invitation: nobody can claim it from now on. Members who joined are removed
    with `remove_member` instead, which keeps the organisation's last admin."""
    current = await _pending(conn, org_id, member_id, "this member has joined; remove them instead")
    await members.delete(conn, org_id, member_id)
    return current


async def change_role(conn: asyncpg.Connection, org_id: UUID, member_id: UUID, role: str) -> dict[str, Any]:
    """Sets a member's role; demoting the last active admin is refused (someone must be able to administer)."""
    admins = await members.count_admins(conn, org_id)  # locked before the member: see `count_admins`
    current = await members.get_for_update(conn, org_id, member_id)
    if current is None:
        raise NotFound("member", "memberId")
    if current["role"] == "provider":
        # A provider's staff work for their provider, not the partner: their access is the operator's to give.
        raise DomainError(ErrorCode.INVALID_INPUT, "a provider user's role cannot be changed; remove them", "memberId")
    if _active_admin(current) and role != "admin" and admins <= 1:
        raise DomainError(ErrorCode.LAST_ADMIN, "the last admin cannot stop being an admin", "role")
    return await members.set_role(conn, org_id, member_id, role)


def _active_admin(member: dict[str, Any]) -> bool:
    """An admin who can administer: an invited admin cannot until the invitation is taken up."""
    return bool(member["role"] == "admin" and member["status"] == "active")


async def remove_member(conn: asyncpg.Connection, org_id: UUID, member_id: UUID, acting_subject: str | None) -> None:
    """Removes a member; an admin cannot remove themselves, and the last admin stays."""
    acting = await members.id_for_subject(conn, org_id, acting_subject) if acting_subject else None
    if member_id == acting:
        raise DomainError(ErrorCode.CANNOT_REMOVE_SELF, "admins cannot remove themselves", "memberId")
    admins = await members.count_admins(conn, org_id)  # locked before the member: see `count_admins`
    current = await members.get_for_update(conn, org_id, member_id)
    if current is None:
        raise NotFound("member", "memberId")
    if _active_admin(current) and admins <= 1:
        raise DomainError(ErrorCode.LAST_ADMIN, "the last admin cannot be removed", "memberId")
    await members.delete(conn, org_id, member_id)
