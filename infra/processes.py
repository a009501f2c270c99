"""Every long-running process of the platform, declared once.

`./platform up` (infra/run.py) and the end-to-end harness render their commands from this
list; infra/compose.yaml, infra/k8s/ and the README's process table are checked against it by
tests/infra/test_deploy_files.py. A new process (the insights API, worker and relay, the reports
scheduler) is one entry here, then the deploy files that test asks for.

A command is declared in module form, as a container runs it (`dramatiq ...`, `python -m ...`),
without the address an HTTP process listens on. HTTP APIs run under `python -m shared.service.serve
<module:factory>` (uvicorn with the platform's header, timeout and concurrency limits, which uvicorn's own
command line cannot select): deployments listen on
0.0.0.0 at the declared port, the local launcher on 127.0.0.1 at a port the environment may
move (`port_env`). The one-shot bootstrap job is not a process here: it runs to completion
before the others start (`python -m infra.bootstrap`).

Pure standard library: deploy-file tests and the launcher import it before any server exists.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

LOCAL_HOST = "127.0.0.1"
DEPLOY_HOST = "0.0.0.0"
HEALTH_PORT_ENV = "HEALTH_PORT"  # read by shared/health.py in processes that are not HTTP apps
# The runner of every HTTP API: uvicorn with the limits of shared/service/server.py (slow and idle clients).
SERVE = ("python", "-m", "shared.service.serve")


class Kind(StrEnum):
    """What a process is, which decides how it listens and how it is probed."""

    HTTP_API = "http-api"  # an ASGI app under shared.service.serve (uvicorn); /healthz and /readyz on its own port
    WORKER = "worker"  # a Dramatiq consumer; health on HEALTH_PORT; scales horizontally
    RELAY = "relay"  # an outbox relay; health on HEALTH_PORT
    SCHEDULER = "scheduler"  # fires scheduled work (reports slice); health on HEALTH_PORT

    @property
    def serves_http(self) -> bool:
        return self is Kind.HTTP_API


@dataclass(frozen=True)
class Process:
    """One process of the platform, as every launcher and deployment file must run it."""

    name: str
    """Compose service, Kubernetes Deployment and Service name, and the host other processes reach it by."""
    kind: Kind
    service: str
    """The service folder it runs (`services/<service>/`); it connects to that service's database only."""
    command: tuple[str, ...]
    """argv in module form, without a listen address (see `deploy_argv`, `local_argv`)."""
    port: int
    """HTTP APIs: the port they serve on. Others: the port of their health listener in deployments."""
    port_env: str
    """HTTP APIs: the variable moving the port under `./platform up`; others: HEALTH_PORT, read by the process."""
    replicas: int
    """Copies a cluster runs (Kubernetes `spec.replicas`; the autoscaler's floor when `max_replicas` is set)."""
    compose_replicas: int = 1
    """Copies infra/compose.yaml runs on its one host (a published host port admits only one)."""
    max_replicas: int | None = None
    """Set when a HorizontalPodAutoscaler owns the count, from `replicas` up to this."""
    readiness_path: str = "/readyz"
    liveness_path: str = "/healthz"
    url_env: str | None = None
    """The variable other processes read to reach this one (HTTP APIs only), e.g. ORDERS_API_URL."""

    def __post_init__(self) -> None:
        # Mistakes here would surface as a confusing deploy-file diff; say what is wrong instead.
        if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", self.name):
            raise ValueError(f"{self.name!r}: process names are DNS labels (compose and Kubernetes use them)")
        if not self.command or (self.command[0] == "python" and self.command[1:2] != ("-m",)):
            raise ValueError(f"{self.name}: command must be `<module program> ...` or `python -m <module> ...`")
        if self.kind.serves_http and self.command[:3] != SERVE:
            raise ValueError(f"{self.name}: HTTP APIs run under `{' '.join(SERVE)} <module:factory>` (its limits)")
        if self.kind.serves_http == (self.port_env == HEALTH_PORT_ENV):
            raise ValueError(f"{self.name}: HTTP APIs name their own port variable, other kinds {HEALTH_PORT_ENV}")
        if self.url_env is not None and not self.kind.serves_http:
            raise ValueError(f"{self.name}: only HTTP APIs are reached by URL")
        if self.replicas < 1 or self.compose_replicas < 1:
            raise ValueError(f"{self.name}: replicas must be >= 1")
        if self.max_replicas is not None and self.max_replicas < self.replicas:
            raise ValueError(f"{self.name}: max_replicas below replicas")

    @property
    def deploy_argv(self) -> list[str]:
        """The container command of infra/compose.yaml and infra/k8s/ (the image's PATH has the programs)."""
        if self.kind.serves_http:
            return [*self.command, "--host", DEPLOY_HOST, "--port", str(self.port)]
        return list(self.command)

    @property
    def deploy_url(self) -> str:
        """How other processes reach it in compose and Kubernetes, where the process name is the host name."""
        return f"http://{self.name}:{self.port}"

    def local_argv(self, python: str = sys.executable, port: int | None = None) -> list[str]:
        """The command run from a checkout with interpreter `python`: no PATH lookups, so the venv's
        programs are used whatever the shell has. HTTP APIs need `port` and skip the access log,
        which would drown the launcher's terminal (the JSON logs carry every request id anyway)."""
        argv = [python, *self.command[1:]] if self.command[0] == "python" else [python, "-m", *self.command]
        if self.kind.serves_http:
            if port is None:
                raise ValueError(f"{self.name} serves HTTP: give it a port")
            argv += ["--host", LOCAL_HOST, "--port", str(port), "--no-access-log"]
        return argv


PROCESSES: tuple[Process, ...] = (
    Process(
        name="gateway",
        kind=Kind.HTTP_API,
        service="gateway",
        command=(*SERVE, "services.gateway.app:app"),
        port=8000,
        port_env="GATEWAY_PORT",
        replicas=2,
    ),
    Process(
        name="orders-api",
        kind=Kind.HTTP_API,
        service="orders",
        command=(*SERVE, "services.orders.api.app:app"),
        port=8101,
        port_env="ORDERS_API_PORT",
        replicas=2,
        url_env="ORDERS_API_URL",
    ),
    Process(
        name="orders-worker",
        kind=Kind.WORKER,
        service="orders",
        # The kit's mail actors ride along (shared/messaging/mail_actors.py): mail.send and the outbox's mail.
        command=(
            "dramatiq",
            "services.orders.worker",
            "shared.messaging.mail_actors",
            "--processes",
            "1",
            "--threads",
            "8",
            "--queues",
            "orders",
            "mail",
            "mail.events",
            "orders.events",
        ),
        port=8081,
        port_env=HEALTH_PORT_ENV,
        replicas=2,
        compose_replicas=2,
        max_replicas=10,
    ),
    Process(
        name="orders-relay",
        kind=Kind.RELAY,
        service="orders",
        command=("python", "-m", "shared.messaging.relay", "orders"),
        port=8082,
        port_env=HEALTH_PORT_ENV,
        replicas=1,
    ),
    Process(
        name="insights-api",
        kind=Kind.HTTP_API,
        service="insights",
        command=(*SERVE, "services.insights.api.app:app"),
        port=8102,
        port_env="INSIGHTS_API_PORT",
        replicas=2,
        url_env="INSIGHTS_API_URL",
    ),
    Process(
        name="insights-worker",
        kind=Kind.WORKER,
        service="insights",
        # The orders service's domain events (queue insights.events), the maintenance slots it claims, and
        # Mixpanel forwarding and cohort imports (queue insights.mixpanel, fed by its ticker).
        command=(
            "dramatiq",
            "services.insights.worker",
            "--processes",
            "1",
            "--threads",
            "8",
            "--queues",
            "insights.events",
            "insights.mixpanel",
        ),
        port=8083,
        port_env=HEALTH_PORT_ENV,
        replicas=2,
        compose_replicas=2,
        max_replicas=10,
    ),
    Process(
        name="insights-relay",
        kind=Kind.RELAY,
        service="insights",
        # The insights outbox: each stored business event (business_event.recorded) to the reports service.
        command=("python", "-m", "shared.messaging.relay", "insights"),
        port=8084,
        port_env=HEALTH_PORT_ENV,
        replicas=1,
    ),
    Process(
        name="reports-api",
        kind=Kind.HTTP_API,
        service="reports",
        command=(*SERVE, "services.reports.api.app:app"),
        port=8103,
        port_env="REPORTS_API_PORT",
        replicas=2,
        url_env="REPORTS_API_URL",
    ),
    Process(
        name="reports-worker",
        kind=Kind.WORKER,
        service="reports",
        # The orders service's domain events and the insights service's business events (queue reports.events),
        # report runs (queue reports.runs: build the file, mail it) and MongoDB forwarding passes (reports.mongo).
        command=(
            "dramatiq",
            "services.reports.worker",
            "--processes",
            "1",
            "--threads",
            "8",
            "--queues",
            "reports.events",
            "reports.runs",
            "reports.mongo",
        ),
        port=8085,
        port_env=HEALTH_PORT_ENV,
        replicas=2,
        compose_replicas=2,
        max_replicas=10,
    ),
    Process(
        name="reports-scheduler",
        kind=Kind.SCHEDULER,
        service="reports",
        # Fires due report schedules; two replicas show it is safe: each slot runs once (row lock + slot key).
        command=("python", "-m", "services.reports.scheduler"),
        port=8086,
        port_env=HEALTH_PORT_ENV,
        replicas=2,
    ),
)

if len({p.name for p in PROCESSES}) != len(PROCESSES):
    raise ValueError("two processes share a name")


def by_name(name: str) -> Process:
    for process in PROCESSES:
        if process.name == name:
            return process
    raise KeyError(f"no process {name!r} in infra/processes.py")


def local_ports(environ: Mapping[str, str] = os.environ) -> dict[str, int]:
    """Where each HTTP API listens under `./platform up`: its declared port unless `port_env` moves it."""
    ports = {}
    for p in PROCESSES:
        if p.kind.serves_http:
            raw = environ.get(p.port_env, "")
            try:
                ports[p.name] = int(raw) if raw else p.port
            except ValueError as exc:
                raise RuntimeError(f"{p.port_env} must be a port number, got {raw!r}") from exc
    return ports


def local_commands(python: str, ports: Mapping[str, int]) -> dict[str, list[str]]:
    """Every process's local command, in declaration order (`ports` from `local_ports` or free ports)."""
    return {p.name: p.local_argv(python, ports.get(p.name)) for p in PROCESSES}


def local_urls(ports: Mapping[str, int]) -> dict[str, str]:
    """`url_env` -> URL for every process others reach, so the local processes find each other."""
    return {p.url_env: f"http://{LOCAL_HOST}:{ports[p.name]}" for p in PROCESSES if p.url_env}
