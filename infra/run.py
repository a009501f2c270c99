"""Run the whole platform locally: `python -m infra.run` (what `./platform up` calls).

Starts embedded PostgreSQL and Redis under `.data/` unless DATABASE_URL / REDIS_URL are
set, creates the databases and applies migrations, loads demo data on first start, serves
a development OIDC issuer, then supervises every process declared in infra/processes.py
(gateway, orders API, orders worker, outbox relay) and the embedded servers. Ctrl-C stops
everything cleanly; data survives.

Supervision (`Supervisor`): a process that dies is restarted after 1, 2, 4, then 8 s; more than
5 restarts of one process within 60 s is a crash loop, which stops the platform with the
process's name and its last output lines. Each child runs in its own process group (its own
session: a terminal's Ctrl-C reaches only the supervisor), and every stop, and every restart
of a dead process, ends with the whole group killed, so no forked child (Dramatiq's worker
processes, PostgreSQL's backends) outlives its main process.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from infra.dev_issuer import DevIssuer
from infra.embedded import EmbeddedPostgres, EmbeddedRedis, _wait_port
from infra.processes import PROCESSES, local_commands, local_ports, local_urls

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("PLATFORM_DATA_DIR", ROOT / ".data")).resolve()

BACKOFF_SECONDS = (1.0, 2.0, 4.0, 8.0)
CRASH_LOOP_RESTARTS = 5  # more restarts than this within the window is a crash loop
CRASH_LOOP_WINDOW_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0  # a main process's graceful stop; then its group is killed
ORPHAN_GRACE_SECONDS = 5.0  # what is left of a dead process's group gets this long to stop
TAIL_LINES = 20


def say(msg: str) -> None:
    print(f"[platform] {msg}", file=sys.stderr, flush=True)


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def processes(python: str) -> dict[str, list[str]]:
    """The local command of every process of infra/processes.py, on the ports the environment sets."""
    return local_commands(python, local_ports(os.environ))


# --------------------------------------------------------------------------- process groups


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group `pgid`.

    Read from /proc: an orphan that already exited stays a zombie until init reaps it, and a
    signal probe (`killpg(pgid, 0)`) would count it. Without /proc (macOS), that probe it is.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _alive_pid(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] not in "ZX"


def _wait_group_gone(pgid: int, timeout: float) -> None:
    """A killed process is gone a moment after kill() returns; stop() returns only once it is."""
    deadline = time.monotonic() + timeout
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.01)


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


# --------------------------------------------------------------------------- the supervisor


@dataclass
class ChildSpec:
    """How to run one supervised process."""

    name: str
    argv: list[str]
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    stop_signal: int = signal.SIGTERM
    """What asks the main process to stop gracefully (PostgreSQL: SIGINT, its fast shutdown)."""
    echo: bool = True
    """Copy its output to the supervisor's stderr (the servers' output goes to `log_path` only)."""
    log_path: Path | None = None
    run_as: tuple[int, int] | None = None
    """(uid, gid) to run as (the embedded PostgreSQL refuses root)."""
    prepare: Callable[[], None] | None = None
    """Run before each start, e.g. clearing what a killed server left behind."""
    tier: int = 1
    """Stopped after every child of a higher tier: the stores (0) outlive the processes using them (1)."""


class CrashLoop(RuntimeError):
    """A process died more than the allowed number of times within the window."""

    def __init__(self, name: str, exits: int, window: float, lines: list[str]) -> None:
        self.name, self.lines = name, lines
        tail = "\n".join(f"    {line}" for line in lines) or "    (no output)"
        super().__init__(
            f"{name} is crash-looping ({exits} exits within {window:.0f}s); stopping the platform. "
            f"Last output of {name}:\n{tail}"
        )


@dataclass
class _Child:
    spec: ChildSpec
    proc: subprocess.Popen[bytes] | None = None
    state: str = "new"  # running | cleaning (dead, group being stopped) | waiting (restart due) | stopped
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=TAIL_LINES))
    exits: collections.deque[float] = field(default_factory=collections.deque)
    died_at: float = 0.0
    clean_deadline: float = 0.0
    restart_at: float = 0.0
    restarts: int = 0
    group_killed: bool = False
    pids: set[int] = field(default_factory=set)


class Supervisor:
    """Starts processes, restarts them with back-off when they die, stops them and all their children.

    `check()` is one supervision step (tests drive it directly); `watch()` runs it in a thread.
    Timings are parameters so that tests run the same logic in fractions of a second.
    """

    def __init__(
        self,
        *,
        backoff: Iterable[float] = BACKOFF_SECONDS,
        crash_loop_restarts: int = CRASH_LOOP_RESTARTS,
        crash_loop_window: float = CRASH_LOOP_WINDOW_SECONDS,
        stop_timeout: float = STOP_TIMEOUT_SECONDS,
        orphan_grace: float = ORPHAN_GRACE_SECONDS,
        log: Callable[[str], None] = say,
        output: IO[bytes] | None = None,
        state_file: Path | None = None,
    ) -> None:
        self.backoff = tuple(backoff)
        self.crash_loop_restarts = crash_loop_restarts
        self.crash_loop_window = crash_loop_window
        self.stop_timeout = stop_timeout
        self.orphan_grace = orphan_grace
        self.log = log
        self.output: IO[bytes] = output if output is not None else sys.stderr.buffer
        self.state_file = state_file
        self.failure: CrashLoop | None = None
        self.failed = threading.Event()
        self._children: dict[str, _Child] = {}
        self._lock = threading.RLock()
        self._output_lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._stop_watching = threading.Event()

    # ----------------------------------------------------------------- starting

    def add(self, spec: ChildSpec, *, start: bool = True) -> None:
        with self._lock:
            if spec.name in self._children:
                raise ValueError(f"{spec.name} is already supervised")
            self._children[spec.name] = _Child(spec)
            if start:
                self._start(self._children[spec.name])

    def _start(self, child: _Child) -> None:
        spec = child.spec
        if spec.prepare is not None:
            spec.prepare()
        extra: dict[str, Any] = {}
        if spec.run_as is not None:
            extra = {"user": spec.run_as[0], "group": spec.run_as[1]}
        child.proc = subprocess.Popen(
            spec.argv,
            cwd=spec.cwd,
            env=dict(spec.env) if spec.env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, whose id is its pid
            **extra,
        )
        child.pids.add(child.proc.pid)
        child.state = "running"
        child.group_killed = False
        self._save_state()
        threading.Thread(target=self._pump, args=(child, child.proc), name=f"output-{spec.name}", daemon=True).start()

    def _save_state(self) -> None:
        """Records the running groups, so a launcher started after this one was killed can stop them."""
        if self.state_file is None:
            return
        groups = {
            c.spec.name: {"pgid": c.proc.pid, "program": c.spec.argv[0], "stop_signal": int(c.spec.stop_signal)}
            for c in self._children.values()
            if c.proc is not None
        }
        self.state_file.write_text(json.dumps(groups))

    def stop_leftovers(self) -> None:
        """Stops the process groups a previous launcher recorded and left running (it was killed).

        A group counts only while its main process still runs the recorded program (pids are reused).
        """
        if self.state_file is None or not self.state_file.exists():
            return
        try:
            groups = json.loads(self.state_file.read_text())
        except ValueError:
            groups = {}
        for name, g in groups.items():
            pgid, program = int(g["pgid"]), str(g["program"])
            try:
                cmdline = Path(f"/proc/{pgid}/cmdline").read_bytes()
            except OSError:
                cmdline = b""
            if program.encode() not in cmdline or not group_members(pgid):
                continue
            self.log(f"stopping {name} (pid {pgid}), left running by a launcher that was killed")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pgid, int(g.get("stop_signal", signal.SIGTERM)))
            deadline = time.monotonic() + self.stop_timeout
            while _alive_pid(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
            self._cleanup_group(pgid, grace=0)
        self.state_file.unlink(missing_ok=True)

    def _pump(self, child: _Child, proc: subprocess.Popen[bytes]) -> None:
        """Echoes a child's output line by line and keeps its last lines for a crash-loop report."""
        assert proc.stdout is not None
        log = open(child.spec.log_path, "ab") if child.spec.log_path else None  # noqa: SIM115 - closed below
        try:
            for raw in iter(proc.stdout.readline, b""):
                child.tail.append(raw.decode(errors="replace").rstrip())
                if log is not None:
                    log.write(raw)
                    log.flush()
                if child.spec.echo:
                    with self._output_lock, contextlib.suppress(OSError, ValueError):
                        self.output.write(raw)
                        self.output.flush()
        finally:
            proc.stdout.close()
            if log is not None:
                log.close()

    def pid(self, name: str) -> int | None:
        """The main process of `name` while it runs."""
        with self._lock:
            child = self._children[name]
            return child.proc.pid if child.proc is not None and child.state == "running" else None

    def started_pids(self) -> set[int]:
        """Every main process this supervisor has started (for tests checking nothing is left)."""
        with self._lock:
            return {pid for c in self._children.values() for pid in c.pids}

    def restarts(self, name: str) -> int:
        with self._lock:
            return self._children[name].restarts

    def tail(self, name: str) -> list[str]:
        with self._lock:
            return list(self._children[name].tail)

    # ----------------------------------------------------------------- supervising

    def check(self, now: float | None = None) -> None:
        """One step: notice deaths, stop what is left of a dead process's group, restart when due.

        Raises CrashLoop (after recording it in `failure`) when a process exits more than
        `crash_loop_restarts` times within `crash_loop_window` seconds.
        """
        with self._lock:
            for child in self._children.values():
                self._step(child, time.monotonic() if now is None else now)

    def _step(self, child: _Child, now: float) -> None:
        name = child.spec.name
        if child.state == "running" and child.proc is not None and child.proc.poll() is not None:
            self._exited(child, now, f"(pid {child.proc.pid}) {_describe_exit(child.proc.returncode)}")
            # Whatever its group still holds (Dramatiq's worker process when only the main process was
            # killed) is asked to stop now, and killed if it has not within the grace period.
            child.state = "cleaning"
            child.clean_deadline = now + self.orphan_grace
            if group_members(child.proc.pid):
                _signal_group(child.proc.pid, signal.SIGTERM)  # Dramatiq's worker process: requeue and stop
        if child.state == "cleaning" and child.proc is not None:
            left = group_members(child.proc.pid)
            if left and now >= child.clean_deadline and not child.group_killed:
                self.log(f"{name}: killing {len(left)} leftover process(es) of its group: {sorted(left)}")
                _signal_group(child.proc.pid, signal.SIGKILL)
                child.group_killed = True
            if not left:  # a restart never runs beside what is left of the previous run
                child.state = "waiting"
        if child.state == "waiting" and now >= child.restart_at:
            try:
                self._start(child)
            except Exception as exc:  # e.g. its binary is gone: counts as an exit, so it ends in a crash loop
                child.tail.append(f"failed to start: {exc}")
                self._exited(child, now, f"failed to start ({exc})")
                return
            child.restarts += 1
            assert child.proc is not None
            self.log(f"restarted {name} (pid {child.proc.pid}, restart {child.restarts})")

    def _exited(self, child: _Child, now: float, how: str) -> None:
        """Counts an exit: a crash loop (raised), or the restart scheduled after the back-off."""
        name = child.spec.name
        child.died_at = now
        child.exits.append(now)
        while child.exits and child.exits[0] < now - self.crash_loop_window:
            child.exits.popleft()
        if len(child.exits) > self.crash_loop_restarts:
            if child.proc is not None:
                self._cleanup_group(child.proc.pid, grace=0)
            child.state = "stopped"
            self.failure = CrashLoop(name, len(child.exits), self.crash_loop_window, list(child.tail))
            self.failed.set()
            raise self.failure
        delay = self.backoff[min(len(child.exits), len(self.backoff)) - 1]
        child.restart_at = now + delay
        child.state = "waiting"
        self.log(f"{name} {how}; restarting in {delay:g}s")

    def watch(self, interval: float = 0.2) -> None:
        """Runs `check()` every `interval` seconds in a thread until `stop_all()` or a crash loop."""

        def loop() -> None:
            while not self._stop_watching.wait(interval):
                try:
                    self.check()
                except CrashLoop:
                    return
                except Exception as exc:  # a failed restart (e.g. a missing binary) is a crash loop's business
                    self.log(f"supervision step failed: {exc}")

        self._watcher = threading.Thread(target=loop, name="supervisor", daemon=True)
        self._watcher.start()

    # ----------------------------------------------------------------- stopping

    def _cleanup_group(self, pgid: int, grace: float) -> None:
        """Asks what is left of a group to stop, kills it after `grace` seconds, and waits until it is gone."""
        if not group_members(pgid):
            return
        if grace > 0:
            _signal_group(pgid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while group_members(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
        _signal_group(pgid, signal.SIGKILL)
        _wait_group_gone(pgid, 5)

    def _stop_children(self, children: list[_Child]) -> None:
        """Graceful stop of every main process at once, then each whole group is killed."""
        for child in children:
            if child.proc is not None and child.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(child.spec.stop_signal)
        deadline = time.monotonic() + self.stop_timeout
        for child in children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log(f"{child.spec.name} did not stop within {self.stop_timeout:g}s; killing its process group")
            _signal_group(child.proc.pid, signal.SIGKILL)  # and whatever of its group is left
            child.proc.wait()
            _wait_group_gone(child.proc.pid, 5)
            child.state = "stopped"

    def stop_all(self) -> None:
        """Stops every child and everything in their process groups, highest tier first."""
        self._stop_watching.set()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=5)
        with self._lock:
            for tier in sorted({c.spec.tier for c in self._children.values()}, reverse=True):
                self._stop_children([c for c in self._children.values() if c.spec.tier == tier])
            if self.state_file is not None:
                self.state_file.unlink(missing_ok=True)


# --------------------------------------------------------------------------- ./platform up


def _wait_ready(url: str, timeout: float, supervisor: Supervisor) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if supervisor.failure is not None:
            raise supervisor.failure
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s")


def _raise_interrupt(signum: int, frame: object) -> None:
    """SIGTERM and Ctrl-C stop the platform, once: a terminal's Ctrl-C reaches both `uv` (which passes it
    on) and this process, so later signals are ignored rather than interrupting the shutdown itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


class PortTaken(RuntimeError):
    """A port this platform must listen on is already taken: said plainly, with what to change."""


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.3)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def preflight(ports: list[tuple[int, str, str]]) -> None:
    """Refuses to start when a port it needs is taken (another platform with another data folder, or any
    other program), naming the port, what needed it and the variable that moves it, instead of failing
    later with a server's own error deep in a traceback."""
    for port, what, variable in ports:
        if port_in_use(port):
            raise PortTaken(
                f"port {port} ({what}) is already in use on 127.0.0.1 - another platform (a different "
                f"PLATFORM_DATA_DIR than {DATA}) or another program holds it. Stop it, or start this one with "
                f"{variable}=<free port>."
            )


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    env = os.environ.copy()
    env.setdefault("PYTHONPATH", str(ROOT))
    env.setdefault("PYTHONUNBUFFERED", "1")  # output reaches the supervisor (and a crash report) at once
    supervisor = Supervisor(state_file=DATA / "supervisor.json")
    supervisor.stop_leftovers()
    needed = [(_port("DEV_ISSUER_PORT", 8090), "the development token issuer", "DEV_ISSUER_PORT")]
    if not env.get("DATABASE_URL"):
        needed.append((_port("EMBEDDED_PG_PORT", 54329), "embedded PostgreSQL", "EMBEDDED_PG_PORT"))
    if not env.get("REDIS_URL"):
        needed.append((_port("EMBEDDED_REDIS_PORT", 63799), "embedded Redis", "EMBEDDED_REDIS_PORT"))
    if not env.get("SMTP_URL"):
        needed.append((_port("EMBEDDED_SMTP_PORT", 8025), "the development mailbox", "EMBEDDED_SMTP_PORT"))
    for name, port in local_ports(env).items():
        needed.append((port, name, next(p.port_env for p in PROCESSES if p.name == name)))
    try:
        preflight(needed)
    except PortTaken as exc:
        say(f"cannot start: {exc}")
        sys.exit(2)
    issuer_server = None
    code = 0
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        supervisor.watch()  # every process is restarted if it dies from here on, the servers during bootstrap too
        if not env.get("DATABASE_URL"):
            pg = EmbeddedPostgres(DATA / "postgres", _port("EMBEDDED_PG_PORT", 54329))
            say(f"starting embedded PostgreSQL in {pg.data_dir}")
            supervisor.add(
                ChildSpec(
                    "postgres",
                    pg.server_argv(),
                    stop_signal=signal.SIGINT,  # fast shutdown: SIGTERM would wait for every client to leave
                    echo=False,
                    log_path=pg.log,
                    run_as=pg.run_as(),
                    prepare=pg.prepare,
                    tier=0,
                )
            )
            pg.wait_ready(60, alive=lambda: supervisor.failure is None)
            env["DATABASE_URL"] = pg.url
        if not env.get("REDIS_URL"):
            redis = EmbeddedRedis(DATA / "redis", _port("EMBEDDED_REDIS_PORT", 63799))
            say(f"starting embedded Redis in {redis.data_dir}")
            supervisor.add(
                ChildSpec(
                    "redis",
                    redis.server_argv(persistent=True),
                    echo=False,
                    log_path=redis.log,
                    prepare=redis.prepare,
                    tier=0,
                )
            )
            _wait_port(redis.port, 30, "Redis", redis.log)
            env["REDIS_URL"] = redis.url
        if not env.get("SMTP_URL"):  # the development mailbox: every message kept under .data/mail, none sent on
            from infra.mailbox import server_argv

            smtp_port, mail_log = _port("EMBEDDED_SMTP_PORT", 8025), DATA / "mailbox.log"
            say(f"starting the development mailbox in {DATA / 'mail'} (read it: uv run python -m infra.mailbox list)")
            mailbox_argv = server_argv(sys.executable, DATA / "mail", smtp_port)
            supervisor.add(ChildSpec("mailbox", mailbox_argv, env=env, cwd=ROOT, echo=False, log_path=mail_log, tier=0))
            _wait_port(smtp_port, 30, "the development mailbox", mail_log)
            env["SMTP_URL"] = f"smtp://127.0.0.1:{smtp_port}"
        jwks_port = _port("DEV_ISSUER_PORT", 8090)
        env.setdefault("OIDC_ISSUER", f"http://127.0.0.1:{jwks_port}/")
        env.setdefault("OIDC_JWKS_URL", f"http://127.0.0.1:{jwks_port}/.well-known/jwks.json")
        env.setdefault("OIDC_AUDIENCE", "partner-platform")
        ports = local_ports(env)
        for var, url in local_urls(ports).items():  # e.g. ORDERS_API_URL: where the gateway finds the orders API
            env.setdefault(var, url)
        gateway_url = f"http://127.0.0.1:{ports['gateway']}"
        env.setdefault("GATEWAY_PUBLIC_URL", gateway_url)
        env.setdefault("dramatiq_worker_timeout", "100")
        os.environ.update(env)

        from shared.bootstrap import bootstrap
        from shared.config import SERVICES, Settings

        settings = Settings()
        say("creating databases and applying migrations")
        asyncio.run(bootstrap(settings, SERVICES))
        demo = _demo(settings)
        issuer = DevIssuer.load_or_create(DATA / "dev-issuer", env["OIDC_ISSUER"], env["OIDC_AUDIENCE"])
        issuer_server = issuer.serve(port=jwks_port)
        for name, cmd in processes(sys.executable).items():
            supervisor.add(ChildSpec(name, cmd, env=env, cwd=ROOT))
            say(f"started {name} (pid {supervisor.pid(name)})")
        _wait_ready(f"{gateway_url}/readyz", 90, supervisor)
        _banner(issuer, demo, gateway_url)
        while not supervisor.failed.wait(0.5):
            pass
        code = 1
    except KeyboardInterrupt:
        say("stopping")
    except Exception as exc:
        say(f"{'start-up failed: ' if supervisor.failure is None else ''}{exc}")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave children behind
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if supervisor.failure is not None:
            say(str(supervisor.failure))
        supervisor.stop_all()
        if issuer_server is not None:
            issuer_server.shutdown()
        say("stopped")
    sys.exit(code)


def _banner(issuer: DevIssuer, demo: dict[str, Any], gateway_url: str) -> None:
    from demo.orders import DEMO_ADMIN_EMAIL, DEMO_ADMIN_SUBJECT

    token = issuer.mint(DEMO_ADMIN_SUBJECT, email=DEMO_ADMIN_EMAIL, ttl=12 * 3600)
    integration = demo["integrations"][0]
    provider = demo["providers"][0]
    print(
        f"""
Partner platform is running.

  Partner dashboard (sign in as a demo user):  {gateway_url}/
  GraphQL (GraphiQL in the browser):  {gateway_url}/graphql
  Integrations REST:                   POST {gateway_url}/v1/orders
  Provider commission webhooks:        POST {gateway_url}/webhooks/providers/{provider["public_id"]}/commission
  Health / readiness:                  {gateway_url}/healthz  {gateway_url}/readyz

  Development login token (admin of "Demo Partner", valid 12 h; send as 'Authorization: Bearer <token>'):
{token}

  New token any time:   uv run python -m infra.dev_issuer token   (--user member; --user provider: FibreNet staff)
  API documentation:    {gateway_url}/docs
  Mail the platform sends (development mailbox, when SMTP_URL is unset):  uv run python -m infra.mailbox list   (show N)
  Demo API key of "{integration["name"]}":  {integration["api_key"]}
  Demo webhook secret of "{provider["name"]}":  {provider["webhook_secret"]}
  (all demo keys and secrets: {DATA / "demo.json"})

A process that dies is restarted (1, 2, 4, 8 s back-off); Ctrl-C stops everything.
""",
        flush=True,
    )


def _demo(settings: object) -> dict[str, Any]:
    """Loads demo data once; its keys (shown once by the API) are kept in .data/demo.json."""
    from demo.orders import demo_loaded, load_demo

    owner = settings.service_database_url("orders", "owner")  # type: ignore[attr-defined]
    path = DATA / "demo.json"
    if asyncio.run(demo_loaded(owner)) and path.exists():
        say("demo data already loaded")
        doc = dict(json.loads(path.read_text()))
    elif asyncio.run(demo_loaded(owner)):
        raise RuntimeError(f"demo organisation exists but {path} is missing; remove {DATA} to start afresh")
    else:
        say("loading demo data (first start only)")
        result = asyncio.run(load_demo(owner, progress=lambda m: say(f"  {m}")))
        doc = {"org_id": str(result.org_id), "integrations": result.integrations, "providers": result.providers}
        path.write_text(json.dumps(doc, indent=2, default=str))
        path.chmod(0o600)
    _fx_demo(settings)
    _insights_demo(settings)
    return doc


def _fx_demo(settings: object) -> None:
    """The demo FX rates (demo/fx_rates.csv), through the operator command's code path, at every start: a
    reload publishes only what changed (nothing, after the first start); the relay delivers the rest."""
    from demo.fx_rates import DEMO_FX_CSV
    from services.orders.service.fx_rates import load_file

    say(f"loading FX reference rates from {DEMO_FX_CSV.relative_to(ROOT)}")
    owner = settings.service_database_url("orders", "owner")  # type: ignore[attr-defined]
    asyncio.run(load_file(owner, DEMO_FX_CSV, progress=lambda m: say(f"  {m}")))


def _insights_demo(settings: object) -> None:
    """Loads the demo customers' events into the insights service once, after (and from) the orders demo."""
    from demo.insights import insights_demo_loaded, load_insights_demo

    owner = settings.service_database_url("insights", "owner")  # type: ignore[attr-defined]
    if asyncio.run(insights_demo_loaded(owner)):
        say("demo events already loaded")
        return
    say("loading demo events: 90 days of funnel, behaviour and business events (first start only)")
    began = time.monotonic()
    orders_owner = settings.service_database_url("orders", "owner")  # type: ignore[attr-defined]
    result = asyncio.run(
        load_insights_demo(orders_owner, owner, progress=lambda m: say(f"  [{time.monotonic() - began:5.1f}s] {m}"))
    )
    say(f"demo events loaded: {result.events:,} events of {result.customers:,} customers in {result.seconds:.1f}s")
    _reports_demo()


def _reports_demo() -> None:
    """The reports service is fed by events only: on the first start the orders and insights services republish
    the demo (organisations, orders, business events) through their outboxes, and the relays and the reports
    worker apply it once the platform runs (a few minutes; the reports fill as it lands). The republishing
    (~10 s) runs beside the start, its output in .data/reports-backfill.log."""
    log = DATA / "reports-backfill.log"
    say(f"queueing the demo for the reports service in the background (log: {log})")
    with log.open("ab") as out:
        subprocess.Popen(
            [sys.executable, "-m", "services.reports.admin", "backfill"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


if __name__ == "__main__":
    main()
