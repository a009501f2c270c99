"""A local Mixpanel: the peer the Mixpanel forwarding is tested and measured against.

Written from Mixpanel's public API documentation, not from our client (each rule cites its page), and run as
its own process (`python -m tests.fakes.mixpanel --port N`; `FakeMixpanel` starts it on a free port). One
process stands for both data residencies: `/us/...` is api.mixpanel.com / mixpanel.com, `/eu/...` is
api-eu.mixpanel.com / eu.mixpanel.com (settings MIXPANEL_*_URL_US/EU point at them). It keeps what it accepted
so that tests read it back (`/_fake/...`), and has fault switches: answer 429 (with Retry-After) or a 5xx for
the next N requests, or be down (connections dropped unanswered).

What it speaks:
- `POST /import` (https://docs.mixpanel.com/reference/import-events): service-account Basic auth plus the
  `project_id` query parameter; `strict=1` validation with per-event `failed_records` in a 400 (valid events
  of the batch still ingested: https://docs.mixpanel.com/troubleshooting/errors/400-bad-request); at most 2000
  events and 10 MB uncompressed per request; `Content-Encoding: gzip`; JSON array or NDJSON; events deduplicated
  on (event, distinct_id, time, $insert_id); any time after 1971-01-01 (events older than 5 days allowed, unlike
  /track: https://docs.mixpanel.com/troubleshooting/errors/historical-events-not-appearing).
- `POST /engage` (https://developer.mixpanel.com/reference/profile-set and /profile-set-property-once):
  `$token`, `$distinct_id`, `$set` / `$set_once`; at most 2000 updates per request
  (https://www.mintlify.com/mixpanel/docs/api-reference/rate-limits); gzip not supported ("This API does not
  support gzip encoding"); answers 200 even on validation issues, the body says (`verbose=1`: status/error).
- `POST /api/query/engage` (https://docs.mixpanel.com/reference/engage-query): service-account Basic auth,
  `project_id`, form fields `filter_by_cohort` ({"id": N}), `session_id` and `page` for the next pages, answer
  `{page, page_size, session_id, status, total, results: [{$distinct_id, $properties}]}`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web

# https://docs.mixpanel.com/reference/import-events: "We accept up to 2000 events and 10MB uncompressed per request."
MAX_IMPORT_EVENTS = 2000
MAX_IMPORT_BYTES = 10 * 1024 * 1024
# https://www.mintlify.com/mixpanel/docs/api-reference/rate-limits: /engage 2000 profile updates per request.
MAX_ENGAGE_UPDATES = 2000
# https://docs.mixpanel.com/troubleshooting/errors/historical-events-not-appearing: /import rejects a time before
# 1971-01-01 or more than one hour in the future.
MIN_TIME_MS = 31_536_000_000
FUTURE_SLACK_MS = 3_600_000
# https://docs.mixpanel.com/troubleshooting/errors/400-bad-request: placeholder distinct ids refused.
BAD_DISTINCT_IDS = frozenset(
    {"anon", "anonymous", "nil", "none", "null", "n/a", "00000000-0000-0000-0000-000000000000"}
)
# https://docs.mixpanel.com/reference/import-events ($insert_id): "must be ... 36 characters or less and contain
# only alphanumeric characters or -".
INSERT_ID_MAX = 36
# https://docs.mixpanel.com/reference/engage-query: profiles per page (page_size in the answer).
QUERY_PAGE_SIZE = 1000
REGIONS = ("us", "eu")


@dataclass
class Project:
    project_id: str
    token: str
    username: str
    secret: str
    region: str
    events: dict[tuple[str, str, int, str], dict[str, Any]] = field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    cohorts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    received: int = 0  # events received on /import, duplicates included


@dataclass
class Faults:
    status: int = 0  # 429 or a 5xx answered for the next `count` requests of ingestion and queries
    count: int = 0
    retry_after: int | None = None
    down: bool = False


class Peer:
    def __init__(self) -> None:
        self.projects: dict[str, Project] = {}
        self.faults = Faults()
        self.answered: dict[str, int] = {}
        self.query_sessions: dict[str, list[dict[str, Any]]] = {}

    # ------------------------------------------------------------------------------------------- helpers

    def count(self, status: int) -> None:
        self.answered[str(status)] = self.answered.get(str(status), 0) + 1

    def answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
        self.count(status)
        return web.json_response(body, status=status, headers=headers)

    def fault(self, request: web.Request) -> web.StreamResponse | None:
        if self.faults.down:
            # "Down": the connection is dropped without an answer (what a client sees of a peer that is gone).
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)
        if self.faults.count > 0:
            self.faults.count -= 1
            status = self.faults.status
            headers = {"Retry-After": str(self.faults.retry_after)} if self.faults.retry_after is not None else None
            # https://docs.mixpanel.com/troubleshooting/errors/429-rate-limit-exceeded: the 429 body.
            body = {"code": status, "status": "Too Many Requests" if status == 429 else "Internal Server Error"}
            body["error"] = (
                "Project exceeded rate limits. Please retry the request with exponential backoff."
                if status == 429
                else "internal error"
            )
            return self.answer(status, body, headers)
        return None

    def service_account(self, request: web.Request, region: str) -> Project | web.Response:
        """https://docs.mixpanel.com/reference/import-events (Authentication): "/import requires an Owner or Admin
        Service Account. project_id, service account username and service account password are required"."""
        project_id = request.query.get("project_id", "")
        project = self.projects.get(project_id)
        auth = request.headers.get("Authorization", "")
        try:
            user, _, secret = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            user, secret = "", ""
        if not auth.startswith("Basic ") or project is None or (user, secret) != (project.username, project.secret):
            return self.answer(401, {"code": 401, "error": "Invalid credentials", "status": 0})
        if project.region != region:
            # EU data residency: an EU project's data goes to the EU hosts only (https://docs.mixpanel.com/docs/
            # privacy/eu-residency); a call on the other region's host does not find the project.
            return self.answer(401, {"code": 401, "error": f"project {project_id} is not in this region", "status": 0})
        return project

    async def body(self, request: web.Request, limit: int) -> bytes | web.Response:
        raw = await request.read()  # aiohttp's server decodes a gzip Content-Encoding while reading
        if request.headers.get("Content-Encoding", "").lower() == "gzip" and raw[:2] == b"\x1f\x8b":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError):
                return self.answer(400, {"code": 400, "error": "body is not valid gzip", "status": 0})
        if len(raw) > limit:
            return self.answer(413, {"code": 413, "error": "request body too large", "status": "Payload Too Large"})
        return raw

    # --------------------------------------------------------------------------------------------- /import

    async def import_events(self, request: web.Request) -> web.StreamResponse:
        region = request.match_info["region"]
        if (faulty := self.fault(request)) is not None:
            return faulty
        project = self.service_account(request, region)
        if isinstance(project, web.Response):
            return project
        raw = await self.body(request, MAX_IMPORT_BYTES)
        if isinstance(raw, web.Response):
            return raw
        try:
            if request.content_type == "application/x-ndjson":
                events = [json.loads(line) for line in raw.splitlines() if line.strip()]
            else:
                events = json.loads(raw)
        except ValueError:
            return self.answer(400, {"code": 400, "error": "body is not valid JSON", "status": 0})
        if not isinstance(events, list):
            events = [events]
        if len(events) > MAX_IMPORT_EVENTS:
            return self.answer(
                400, {"code": 400, "error": f"too many events: at most {MAX_IMPORT_EVENTS}", "status": 0}
            )
        now_ms = int(time.time() * 1000)
        failed: list[dict[str, Any]] = []
        imported = 0
        for index, event in enumerate(events):
            problem = _invalid(event, now_ms)
            if problem is not None:
                props = event.get("properties") if isinstance(event, dict) else None
                insert_id = props.get("$insert_id") if isinstance(props, dict) else None
                failed.append({"index": index, "insert_id": insert_id, "field": problem[0], "message": problem[1]})
                continue
            props = event["properties"]
            t = int(props["time"])
            t = t * 1000 if t < 10_000_000_000 else t  # seconds or milliseconds since epoch
            key = (event["event"], str(props["distinct_id"]), t, props["$insert_id"])
            project.events.setdefault(key, event)
            imported += 1
        project.received += len(events)
        if failed and request.query.get("strict") == "1":
            return self.answer(
                400,
                {
                    "code": 400,
                    "error": "some data points in the request failed validation",
                    "status": "Bad Request",
                    "num_records_imported": imported,
                    "failed_records": failed,
                },
            )
        return self.answer(200, {"code": 200, "num_records_imported": imported, "status": "OK"})

    # --------------------------------------------------------------------------------------------- /engage

    async def engage(self, request: web.Request) -> web.StreamResponse:
        region = request.match_info["region"]
        if (faulty := self.fault(request)) is not None:
            return faulty
        verbose = request.query.get("verbose") == "1"
        if request.headers.get("Content-Encoding", "").lower() == "gzip":
            # https://developer.mixpanel.com/reference/profile-set: "This API does not support gzip encoding."
            return self.answer(400, {"status": 0, "error": "gzip is not supported on /engage"})
        raw = await request.read()
        try:
            if request.content_type == "application/x-www-form-urlencoded":
                updates = json.loads((await request.post()).get("data", "[]"))  # type: ignore[arg-type]
            else:
                updates = json.loads(raw or b"[]")
        except ValueError:
            return self._engage_result(verbose, "body is not valid JSON")
        if not isinstance(updates, list):
            updates = [updates]
        if len(updates) > MAX_ENGAGE_UPDATES:
            return self._engage_result(verbose, f"too many updates: at most {MAX_ENGAGE_UPDATES}")
        by_token = {p.token: p for p in self.projects.values() if p.region == region}
        # Validated whole before any is applied (a batch is one request).
        for update in updates:
            if not isinstance(update, dict) or update.get("$token") not in by_token:
                return self._engage_result(verbose, "$token is missing or invalid")
            if not isinstance(update.get("$distinct_id"), str) or not update["$distinct_id"]:
                return self._engage_result(verbose, "$distinct_id is missing")
            if not any(op in update for op in ("$set", "$set_once", "$unset", "$delete")):
                return self._engage_result(verbose, "no operation ($set, $set_once, ...)")
        for update in updates:
            project = by_token[update["$token"]]
            profile = project.profiles.setdefault(update["$distinct_id"], {})
            if "$delete" in update:
                project.profiles.pop(update["$distinct_id"], None)
                continue
            profile.update(update.get("$set") or {})
            for key, value in (update.get("$set_once") or {}).items():
                profile.setdefault(key, value)
            for key in update.get("$unset") or []:
                profile.pop(key, None)
        return self._engage_result(verbose, None)

    def _engage_result(self, verbose: bool, error: str | None) -> web.Response:
        # https://developer.mixpanel.com/reference/profile-set: 200 even when the data is invalid; the body says.
        self.count(200)
        if verbose:
            return web.json_response({"status": 0 if error else 1, "error": error})
        return web.Response(text="0" if error else "1")

    # ------------------------------------------------------------------------------------ /api/query/engage

    async def query_engage(self, request: web.Request) -> web.StreamResponse:
        region = request.match_info["region"]
        if (faulty := self.fault(request)) is not None:
            return faulty
        project = self.service_account(request, region)
        if isinstance(project, web.Response):
            return project
        form = await request.post()
        session_id, page = str(form.get("session_id") or ""), int(str(form.get("page") or 0))
        if session_id:
            members = self.query_sessions.get(session_id)
            if members is None:
                return self.answer(400, {"error": "unknown session_id", "status": "error"})
        else:
            cohort_raw = form.get("filter_by_cohort")
            if cohort_raw:
                try:
                    cohort_id = int(json.loads(str(cohort_raw))["id"])
                except (ValueError, KeyError, TypeError):
                    message = 'filter_by_cohort must be {"id": <cohort id>}'
                    return self.answer(400, {"error": message, "status": "error"})
                if cohort_id not in project.cohorts:
                    return self.answer(400, {"error": f"cohort {cohort_id} not found", "status": "error"})
                members = project.cohorts[cohort_id]
            else:
                members = [{"$distinct_id": d, "$properties": p} for d, p in project.profiles.items()]
            session_id = uuid.uuid4().hex
            self.query_sessions[session_id] = members
        rows = members[page * QUERY_PAGE_SIZE : (page + 1) * QUERY_PAGE_SIZE]
        return self.answer(
            200,
            {
                "page": page,
                "page_size": QUERY_PAGE_SIZE,
                "session_id": session_id,
                "status": "ok",
                "total": len(members),
                "results": rows,
            },
        )

    # ---------------------------------------------------------------------------------- controls (tests only)

    async def control(self, request: web.Request) -> web.StreamResponse:
        what = request.match_info["what"]
        body = await request.json() if request.method == "POST" and request.can_read_body else {}
        if what == "projects" and request.method == "POST":
            region = body.get("region", "us")
            self.projects[body["project_id"]] = Project(
                body["project_id"], body["token"], body["username"], body["secret"], region
            )
            return web.json_response({"ok": True})
        if what == "cohorts":
            self.projects[body["project_id"]].cohorts[int(body["cohort_id"])] = [
                {"$distinct_id": m["distinct_id"], "$properties": m.get("properties", {})} for m in body["members"]
            ]
            return web.json_response({"ok": True})
        if what == "faults":
            self.faults = Faults(
                status=int(body.get("status", 0)),
                count=int(body.get("count", 0)),
                retry_after=body.get("retry_after"),
                down=bool(body.get("down", False)),
            )
            return web.json_response({"ok": True})
        if what == "events":
            project = self.projects[request.query["project_id"]]
            return web.json_response({"received": project.received, "events": list(project.events.values())})
        if what == "profiles":
            return web.json_response(self.projects[request.query["project_id"]].profiles)
        if what == "stats":
            counts = {p.project_id: {"received": p.received, "kept": len(p.events)} for p in self.projects.values()}
            return web.json_response({"answered": self.answered, "projects": counts})
        if what == "ready":
            return web.json_response({"ok": True})
        return web.json_response({"error": "unknown control"}, status=404)


def _invalid(event: Any, now_ms: int) -> tuple[str, str] | None:
    """The first rule of https://docs.mixpanel.com/reference/import-events an event breaks: (field, message)."""
    if not isinstance(event, dict) or not isinstance(event.get("event"), str) or not event["event"]:
        return "event", "'event' must be a non-empty string"
    props = event.get("properties")
    if not isinstance(props, dict):
        return "properties", "'properties' must be an object"
    t = props.get("time")
    if not isinstance(t, int | float) or isinstance(t, bool):
        return "properties.time", "'properties.time' is invalid: must be specified as seconds since epoch"
    t_ms = t * 1000 if t < 10_000_000_000 else t
    if t_ms < MIN_TIME_MS or t_ms > now_ms + FUTURE_SLACK_MS:
        return "properties.time", "'properties.time' is invalid: before 1971-01-01 or more than 1 hour in the future"
    distinct = props.get("distinct_id")
    if not isinstance(distinct, str | int) or str(distinct).strip().lower() in BAD_DISTINCT_IDS:
        return "properties.distinct_id", "'properties.distinct_id' is invalid"
    insert_id = props.get("$insert_id")
    if (
        not isinstance(insert_id, str)
        or not insert_id
        or len(insert_id) > INSERT_ID_MAX
        or not all(c.isascii() and (c.isalnum() or c == "-") for c in insert_id)
    ):
        return "properties.$insert_id", "'$insert_id' must be at most 36 alphanumeric characters or '-'"
    if len(props) > 255:
        # https://developer.mixpanel.com/reference/track-event (Limits): fewer than 255 properties per event.
        return "properties", "an event must have fewer than 255 properties"
    return None


def app() -> web.Application:
    peer = Peer()
    application = web.Application(client_max_size=64 * 1024 * 1024)
    for region in REGIONS:
        assert region  # the routes take the region from the path
    application.add_routes(
        [
            web.post("/{region:us|eu}/import", peer.import_events),
            web.post("/{region:us|eu}/engage", peer.engage),
            web.post("/{region:us|eu}/api/query/engage", peer.query_engage),
            web.post("/{region:us|eu}/api/2.0/engage", peer.query_engage),
            web.get("/_fake/{what}", peer.control),
            web.post("/_fake/{what}", peer.control),
        ]
    )
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(app(), host="127.0.0.1", port=args.port, print=None, access_log=None)


# ------------------------------------------------------------------------------------------- test-side handle


class FakeMixpanel:
    """The fake as a process on a free port, and a small client of its controls."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, region: str) -> str:
        return f"{self.base}/{region.lower()}"

    def start(self) -> FakeMixpanel:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = {**os.environ, "PYTHONPATH": root}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.mixpanel", "--port", str(self.port)], env=env, cwd=root
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/_fake/ready", timeout=1).status_code == 200:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("the fake Mixpanel did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None

    async def _post(self, what: str, body: dict[str, Any]) -> None:
        async with httpx.AsyncClient() as client:
            r = await client.post(f"{self.base}/_fake/{what}", json=body)
            r.raise_for_status()

    async def _get(self, what: str, **params: str) -> Any:
        async with httpx.AsyncClient() as client:
            r = await client.get(f"{self.base}/_fake/{what}", params=params)
            r.raise_for_status()
            return r.json()

    async def add_project(self, project_id: str, token: str, username: str, secret: str, region: str = "us") -> None:
        body = {"project_id": project_id, "token": token, "username": username, "secret": secret, "region": region}
        await self._post("projects", body)

    async def add_cohort(self, project_id: str, cohort_id: int, members: list[dict[str, Any]]) -> None:
        await self._post("cohorts", {"project_id": project_id, "cohort_id": cohort_id, "members": members})

    async def set_faults(
        self, status: int = 0, count: int = 0, retry_after: int | None = None, down: bool = False
    ) -> None:
        await self._post("faults", {"status": status, "count": count, "retry_after": retry_after, "down": down})

    async def events(self, project_id: str) -> tuple[int, list[dict[str, Any]]]:
        data = await self._get("events", project_id=project_id)
        return int(data["received"]), list(data["events"])

    async def profiles(self, project_id: str) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = await self._get("profiles", project_id=project_id)
        return result

    async def counts(self, project_id: str) -> tuple[int, int]:
        """Events received on /import (duplicates included) and kept (deduplicated)."""
        project = (await self._get("stats"))["projects"][project_id]
        return int(project["received"]), int(project["kept"])

    async def answered(self) -> dict[str, int]:
        result: dict[str, int] = (await self._get("stats"))["answered"]
        return result


@contextlib.contextmanager
def running(port: int) -> Iterator[FakeMixpanel]:
    fake = FakeMixpanel(port).start()
    try:
        yield fake
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
