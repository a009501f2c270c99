"""The browser app's operation types are generated from web/schema.graphql (graphql-codegen, at each build):
that committed file must be the schema the gateway serves, or the build checks the app against a stale one.
Refresh it with `python -m services.gateway.sdl > web/schema.graphql`."""

from __future__ import annotations

from pathlib import Path

from services.gateway import sdl

COMMITTED = Path(__file__).resolve().parents[3] / "web" / "schema.graphql"


async def test_the_committed_sdl_is_the_live_schema(gateway) -> None:
    r = await gateway.get("/docs/schema.graphql")
    assert r.status_code == 200
    live = r.text.rstrip("\n") + "\n"
    assert COMMITTED.read_text() == live, (
        "web/schema.graphql differs from the gateway's schema: run "
        "`python -m services.gateway.sdl > web/schema.graphql`, then `cd web && npm run build`"
    )
    assert sdl.sdl() == live  # the command writes exactly what the gateway serves
