"""A message that exhausts its retries lands in the dead-letter set with its error, and comes back on replay."""

from __future__ import annotations

import asyncio
from typing import Any

import dramatiq

from shared.messaging import dead_letters
from shared.messaging.broker import get_broker
from tests.workers import running_worker

QUEUE = "deadletters-test"
applied: list[str] = []
failing = {"on": True}


def _declare() -> dramatiq.Actor[Any, Any]:
    broker = get_broker()
    if "tests.deadletters_flaky" in broker.actors:
        return broker.get_actor("tests.deadletters_flaky")

    def flaky(key: str) -> None:
        if failing["on"]:
            raise RuntimeError(f"provider ledger locked for {key}")
        applied.append(key)

    declare = dramatiq.actor(broker=broker, actor_name="tests.deadletters_flaky", queue_name=QUEUE, max_retries=0)
    return declare(flaky)


async def _until(predicate: Any, timeout: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_message_goes_to_the_dead_letters_and_back(servers, capsys) -> None:
    from shared.service.worker import setup_worker

    broker = get_broker()
    setup_worker("orders", configure_logging=False)  # what every worker installs, dead-letter causes included
    broker.client.delete(*dead_letters._keys(broker, QUEUE))
    actor = _declare()
    failing["on"] = True
    actor.send("order-1")
    actor.send("order-2")
    with running_worker({QUEUE}, threads=1):
        await _until(lambda: len(dead_letters.list_dead(broker, QUEUE)) == 2)
    dead = dead_letters.list_dead(broker, QUEUE)
    assert {d.args[0] for d in dead} == {"order-1", "order-2"}
    assert all("provider ledger locked" in d.error and d.actor == "tests.deadletters_flaky" for d in dead)
    assert QUEUE in dead_letters.queues_with_dead_letters(broker)

    # The operator command lists them, then replays one and discards the other.
    assert dead_letters.main(["list", "--queue", QUEUE]) == 0
    assert capsys.readouterr().out.count("RuntimeError: provider ledger locked for order-") == 2
    one = next(d for d in dead if d.args[0] == "order-1")
    other = next(d for d in dead if d.args[0] == "order-2")
    failing["on"] = False
    assert dead_letters.main(["replay", "--queue", QUEUE, "--id", one.id]) == 0
    assert dead_letters.replay(broker, QUEUE, [one.id]) == 0  # replayed once only
    assert dead_letters.main(["discard", "--queue", QUEUE, "--id", other.id]) == 0
    with running_worker({QUEUE}, threads=1):
        await _until(lambda: applied == ["order-1"])
    assert dead_letters.list_dead(broker, QUEUE) == []
    assert applied == ["order-1"]
