"""Naming the field of a request body the JSON parser refuses, when it can be named.

The gateway parses bodies with orjson, which (rightly) refuses what JSON does not have: the `NaN` and
`Infinity` literals Python's `json` writes, numbers too large for a double, and strings holding an
unpaired UTF-16 surrogate (half an emoji), which no column can store. orjson says only where in the
text it stopped; a client is better served by the field, so a refused body is read once more with
Python's lenient parser to find it. Only refused bodies pay for this, and they are capped in size.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_SURROGATE = re.compile(r"[\ud800-\udfff]")


class _NotANumber:
    def __init__(self, literal: str) -> None:
        self.literal = literal


def _float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _NotANumber(text)


def _int(text: str) -> Any:
    value = int(text)
    return value if abs(value) <= _LARGEST_DOUBLE else _NotANumber(text if len(text) < 40 else text[:20] + "...")


_LARGEST_DOUBLE = 1.7976931348623157e308


def _find(node: Any, path: str) -> tuple[str, str] | None:
    if isinstance(node, _NotANumber):
        return path, f"{node.literal} is not a JSON number (NaN, Infinity and numbers beyond a double are not)"
    if isinstance(node, str) and _SURROGATE.search(node):
        return path, "holds an unpaired UTF-16 surrogate (a \\ud800-\\udfff escape without its pair)"
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if _SURROGATE.search(key):
                return where, "the field name holds an unpaired UTF-16 surrogate"
            found = _find(value, where)
            if found:
                return found
    if isinstance(node, list):
        for i, value in enumerate(node):
            found = _find(value, f"{path}.{i}" if path else str(i))
            if found:
                return found
    return None


def locate_json_error(raw: bytes) -> tuple[str | None, str]:
    """(field, reason) for a body orjson refused; the field is None when the text is simply not JSON."""
    try:
        document = json.loads(raw, parse_constant=_NotANumber, parse_float=_float, parse_int=_int)
    except (ValueError, RecursionError):
        return None, "request body is not valid JSON"
    found = _find(document, "")
    if found is None or not found[0]:
        return None, "request body is not valid JSON" + (f": {found[1]}" if found else "")
    # A field name holding the surrogate is named with it escaped: an answer is UTF-8, which cannot hold it.
    field = found[0].encode("utf-8", "backslashreplace").decode()
    return field, f"{field}: {found[1]}"
