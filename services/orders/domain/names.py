"""Stable, random-looking word names for anonymous customers.

The name is derived from the anonymous id alone (a keyed-free SHA-256 of it), so the
same visitor shows the same name on every screen and after every restart.
"""

from __future__ import annotations

import hashlib

_ADJECTIVES = (
    "amber",
    "brave",
    "calm",
    "dapper",
    "eager",
    "fancy",
    "gentle",
    "happy",
    "icy",
    "jolly",
    "keen",
    "lively",
    "mellow",
    "nimble",
    "olive",
    "proud",
    "quiet",
    "rapid",
    "silver",
    "tidy",
    "upbeat",
    "vivid",
    "witty",
    "young",
    "zesty",
    "bold",
    "crisp",
    "dusky",
    "early",
    "fuzzy",
    "golden",
    "hazel",
)
_COLOURS = (
    "azure",
    "beige",
    "coral",
    "denim",
    "ebony",
    "fern",
    "garnet",
    "indigo",
    "jade",
    "khaki",
    "lilac",
    "mint",
    "navy",
    "ochre",
    "peach",
    "quartz",
    "ruby",
    "sage",
    "teal",
    "umber",
    "violet",
    "wheat",
    "ivory",
    "plum",
)
_ANIMALS = (
    "otter",
    "badger",
    "falcon",
    "heron",
    "koala",
    "lynx",
    "marten",
    "newt",
    "ocelot",
    "panda",
    "quail",
    "raven",
    "seal",
    "tapir",
    "urchin",
    "vole",
    "walrus",
    "yak",
    "zebra",
    "bison",
    "crane",
    "dingo",
    "egret",
    "ferret",
    "gecko",
    "ibis",
    "jackal",
    "lemur",
    "moose",
    "narwhal",
    "puffin",
    "stoat",
)


def anonymous_name(anonymous_id: str) -> str:
    digest = hashlib.sha256(anonymous_id.encode()).digest()
    n = int.from_bytes(digest[:8], "big")
    a = _ADJECTIVES[n % len(_ADJECTIVES)]
    n //= len(_ADJECTIVES)
    c = _COLOURS[n % len(_COLOURS)]
    n //= len(_COLOURS)
    b = _ANIMALS[n % len(_ANIMALS)]
    n //= len(_ANIMALS)
    return f"{a}-{c}-{b}-{n % 1000:03d}"
