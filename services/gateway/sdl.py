"""The gateway's GraphQL schema as SDL, for the browser app's generated operation types.

    python -m services.gateway.sdl > web/schema.graphql

`web/schema.graphql` is committed; `npm run build` generates the app's types from it (graphql-codegen), so a
schema change that breaks an operation of the app fails the build once the file is refreshed, and
tests/services/gateway/test_web_schema.py fails while the committed file differs from the live schema
(the one `GET /docs/schema.graphql` serves).
"""

from __future__ import annotations

import sys

from services.gateway.graphql.schema import build_schema


def sdl() -> str:
    """The schema's SDL, ending in one newline (as the committed file does)."""
    return build_schema(production=False).as_str().rstrip("\n") + "\n"


if __name__ == "__main__":
    sys.stdout.write(sdl())
