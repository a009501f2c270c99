"""Text fields from outside: what they may hold.

Control characters (U+0000–U+001F but tab, and U+007F–U+009F) have no place in a name, a reference or a
reason; stored, they break exports (XML cannot hold most of them) and logs. Input holding one is refused
with the field named, before anything is stored.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


PlainText = Annotated[str, AfterValidator(no_control_characters)]
