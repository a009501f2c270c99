"""A second platform (another data folder) or any program holding a port gets a clear refusal, not a traceback."""

from __future__ import annotations

import socket

import pytest

from infra.run import PortTaken, port_in_use, preflight


def test_a_taken_port_is_refused_naming_it_and_the_variable_that_moves_it() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert port_in_use(port)
        with pytest.raises(PortTaken) as exc:
            preflight([(port, "embedded PostgreSQL", "EMBEDDED_PG_PORT")])
    message = str(exc.value)
    assert f"port {port}" in message and "embedded PostgreSQL" in message and "EMBEDDED_PG_PORT=" in message
    assert "PLATFORM_DATA_DIR" in message
    assert not port_in_use(port)
    preflight([(port, "embedded PostgreSQL", "EMBEDDED_PG_PORT")])  # free again: no refusal
