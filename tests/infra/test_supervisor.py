"""The local supervisor (infra/run.py), driven with small fake processes and scaled-down timings:
restart with back-off, the crash-loop stop naming the process and its last lines, and process-group
cleanup that leaves no orphan (the shape of Dramatiq's main process and its forked worker)."""

from __future__ import annotations

import io
import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from infra.run import ChildSpec, CrashLoop, Supervisor, group_members

BACKOFF = (0.1, 0.2, 0.4, 0.8)

# A "main process" that forks a worker and waits: like Dramatiq's, it dies of SIGTERM without stopping
# its child, and the child ignores SIGTERM (a worker busy with a message); both print their pids.
PARENT_AND_STUBBORN_CHILD = [
    "/bin/sh",
    "-c",
    '(trap "" TERM; echo "child $(exec sh -c \'echo $PPID\')"; exec sleep 1000) & echo "parent $$"; wait',
]


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for init to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def _until(predicate: Callable[[], bool], timeout: float, step: Callable[[], None] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        if step is not None:
            step()
        time.sleep(0.01)


def _pids(lines: list[str], role: str) -> list[int]:
    return [int(m.group(1)) for line in lines if (m := re.fullmatch(rf"{role} (\d+)", line))]


def _supervisor(logs: list[tuple[float, str]], **kwargs: float) -> Supervisor:
    return Supervisor(
        backoff=BACKOFF,
        stop_timeout=kwargs.pop("stop_timeout", 2),
        orphan_grace=kwargs.pop("orphan_grace", 0.3),
        log=lambda m: logs.append((time.monotonic(), m)),
        output=io.BytesIO(),
        **kwargs,  # type: ignore[arg-type]  # crash_loop_* are int/float
    )


def test_a_dying_process_restarts_with_doubling_back_off_then_a_crash_loop_stops_naming_it() -> None:
    logs: list[tuple[float, str]] = []
    sup = _supervisor(logs, crash_loop_restarts=5, crash_loop_window=60)
    crasher = ["/bin/sh", "-c", 'echo "loading settings"; echo "fatal: SETTING_X is missing" >&2; exit 3']
    sup.add(ChildSpec("crasher", crasher))
    try:
        with pytest.raises(CrashLoop) as raised:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                sup.check()
                time.sleep(0.005)
    finally:
        sup.stop_all()
    # Restarted five times, the waits doubling up to the last step, each restart logged.
    delays = [float(m.group(1)) for _, msg in logs if (m := re.search(r"restarting in ([\d.]+)s", msg))]
    assert delays == [0.1, 0.2, 0.4, 0.8, 0.8]
    assert sup.restarts("crasher") == 5
    assert all("crasher" in msg and "exited with code 3" in msg for _, msg in logs if "restarting in" in msg)
    waits = []
    for (t_exit, msg), (t_start, restarted) in zip(logs[::2], logs[1::2], strict=False):
        assert "restarting in" in msg and restarted.startswith("restarted crasher"), (msg, restarted)
        waits.append(t_start - t_exit)
    assert len(waits) == 5
    assert all(d - 0.01 <= w < d + 0.3 for w, d in zip(waits, delays, strict=True)), waits  # honoured, not more
    # The sixth exit within the window is a crash loop: the message names the process and its last lines.
    message = str(raised.value)
    assert raised.value.name == "crasher" and sup.failure is raised.value and sup.failed.is_set()
    assert "crasher is crash-looping (6 exits within 60s)" in message
    assert "fatal: SETTING_X is missing" in message and "loading settings" in message


def test_exits_spread_beyond_the_window_are_not_a_crash_loop_and_the_back_off_resets() -> None:
    logs: list[tuple[float, str]] = []
    sup = _supervisor(logs, crash_loop_restarts=1, crash_loop_window=5)
    sup.add(ChildSpec("flaky", ["/bin/sh", "-c", "exit 1"]))
    try:
        # A clock of our own: each exit is seen 10 s after the previous restart, beyond the 5 s window.
        clock = 0.0
        for i in range(4):
            _until(lambda: _exited(sup), 5)
            clock += 10
            sup.check(now=clock)  # the exit: the only one within the window, so the first back-off step
            clock += 1
            sup.check(now=clock)  # the restart, due
            assert sup.restarts("flaky") == i + 1
        assert sup.failure is None
        delays = [m.group(1) for _, msg in logs if (m := re.search(r"restarting in ([\d.]+)s", msg))]
        assert delays == ["0.1"] * 4
    finally:
        sup.stop_all()


def _exited(sup: Supervisor) -> bool:
    pid = sup.pid("flaky")
    return pid is not None and not _alive(pid)


def test_stopping_kills_the_whole_process_group_even_a_child_that_ignores_sigterm() -> None:
    logs: list[tuple[float, str]] = []
    sup = _supervisor(logs, stop_timeout=1)
    sup.add(ChildSpec("worker", PARENT_AND_STUBBORN_CHILD))
    try:
        _until(lambda: bool(_pids(sup.tail("worker"), "child")) and bool(_pids(sup.tail("worker"), "parent")), 5)
        parent, child = _pids(sup.tail("worker"), "parent")[0], _pids(sup.tail("worker"), "child")[0]
        assert _alive(parent) and _alive(child) and set(group_members(parent)) >= {parent, child}
    finally:
        sup.stop_all()
    assert not _alive(parent) and not _alive(child)
    assert group_members(parent) == []


def test_a_killed_main_process_has_its_orphaned_child_stopped_before_it_restarts() -> None:
    logs: list[tuple[float, str]] = []
    sup = _supervisor(logs, orphan_grace=0.3)
    sup.add(ChildSpec("worker", PARENT_AND_STUBBORN_CHILD))
    try:
        _until(lambda: len(_pids(sup.tail("worker"), "child")) == 1, 5)
        parent, child = _pids(sup.tail("worker"), "parent")[0], _pids(sup.tail("worker"), "child")[0]
        os.kill(parent, signal.SIGKILL)  # only the main process: its child lives on, as Dramatiq's did
        _until(lambda: sup.restarts("worker") == 1, 5, step=sup.check)
        # Before the new main process started, the orphan (which ignores SIGTERM) was killed.
        assert not _alive(child)
        assert any("killing 1 leftover process(es)" in m for _, m in logs)
        assert any("worker (pid" in m and "killed by SIGKILL; restarting in 0.1s" in m for _, m in logs)
        _until(lambda: len(_pids(sup.tail("worker"), "child")) == 2, 5)
        new_parent, new_child = _pids(sup.tail("worker"), "parent")[1], _pids(sup.tail("worker"), "child")[1]
        assert sup.pid("worker") == new_parent and _alive(new_child)
    finally:
        sup.stop_all()
    assert not any(_alive(p) for p in (parent, child, new_parent, new_child))
    assert not any(_alive(p) for p in sup.started_pids())


def test_a_process_that_cannot_even_be_started_again_ends_in_a_crash_loop_saying_why() -> None:
    logs: list[tuple[float, str]] = []
    sup = _supervisor(logs, crash_loop_restarts=3, crash_loop_window=60)
    starts = []

    def prepare() -> None:  # e.g. a server whose binary was removed while it ran
        starts.append(1)
        if len(starts) > 1:
            raise FileNotFoundError("/opt/server/bin/server")

    sup.add(ChildSpec("server", ["/bin/sh", "-c", "exit 1"], prepare=prepare))
    try:
        with pytest.raises(CrashLoop) as raised:
            _until(lambda: False, 10, step=sup.check)
    finally:
        sup.stop_all()
    assert "server is crash-looping (4 exits within 60s)" in str(raised.value)
    assert "failed to start: /opt/server/bin/server" in str(raised.value)
    assert sum("restarting in" in m for _, m in logs) == 3
