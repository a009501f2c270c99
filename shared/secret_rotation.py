"""`encrypt-secrets` for the credentials a service keeps in its own tables (Mixpanel credentials in insights,
MongoDB URIs in reports): every stored value re-encrypted under the first key of `SECRETS_ENCRYPTION_KEYS`, which
is the rotation step `shared/secrets.py` describes. The orders service's provider secrets have their own command
(`services.orders.admin encrypt-secrets`); an operator rotating a key runs the command of every service.

One transaction per table, as the owner (every organisation at once): a value no configured key opens fails the
command and leaves every row as it was. Table and column names are the callers' constants, never input.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from shared.db import create_pool, system_tx
from shared.secrets import secret_box

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class StoredSecrets:
    """Where a service keeps SecretBox tokens: the table, its key columns, the token columns."""

    table: str
    keys: tuple[str, ...]
    columns: tuple[str, ...]

    def __post_init__(self) -> None:
        for name in (self.table, *self.keys, *self.columns):
            if not _NAME.match(name):
                raise ValueError(f"not a plain SQL name: {name!r}")


async def rotate_stored(owner_url: str, places: Sequence[StoredSecrets]) -> dict[str, int]:
    """Re-encrypts every value of `places` under the current first key; counts values that were tokens
    (`reencrypted`) and values still in plain text (`encrypted`)."""
    box = secret_box()  # before connecting: a malformed key fails without touching the database
    owner = await create_pool(owner_url, max_size=1, wait=False)
    counts = {"encrypted": 0, "reencrypted": 0}
    try:
        async with system_tx(owner) as conn:
            for place in places:
                keys, columns = ", ".join(place.keys), ", ".join(place.columns)
                rows = await conn.fetch(f"SELECT {keys}, {columns} FROM {place.table} FOR UPDATE")
                sets = ", ".join(f"{c} = ${i + 1 + len(place.keys)}" for i, c in enumerate(place.columns))
                where = " AND ".join(f"{k} = ${i + 1}" for i, k in enumerate(place.keys))
                for row in rows:
                    values = []
                    for column in place.columns:
                        stored = row[column]
                        counts["reencrypted" if box.is_encrypted(stored) else "encrypted"] += 1
                        values.append(box.rotate(stored))
                    await conn.execute(
                        f"UPDATE {place.table} SET {sets} WHERE {where}", *(row[k] for k in place.keys), *values
                    )
    finally:
        await owner.close()
    return counts
