"""Mixpanel's HTTP API as the forwarding speaks it (aiohttp, one pooled session per event loop).

- `POST {ingest}/import?strict=1&project_id=…`, service-account Basic auth, gzip JSON batches
  (https://docs.mixpanel.com/reference/import-events): 200 all accepted; 400 with `failed_records` a partial
  success (the others were ingested: https://docs.mixpanel.com/troubleshooting/errors/400-bad-request);
  429 and 5xx retried later (https://docs.mixpanel.com/troubleshooting/errors/429-rate-limit-exceeded: exponential
  back-off from 2 s to 60 s; a `Retry-After`, which Mixpanel does not document but a proxy may send, is honoured).
- `POST {ingest}/engage?verbose=1`, JSON, not gzipped ("This API does not support gzip encoding":
  https://developer.mixpanel.com/reference/profile-set): 200 with `{"status": 1}` when applied.
- `POST {query}/api/query/engage?project_id=…`, form `filter_by_cohort={"id": N}`, then `session_id` + `page`
  (https://docs.mixpanel.com/reference/engage-query): a cohort's members, page by page.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from shared.config import Settings

TIMEOUT = aiohttp.ClientTimeout(total=8, connect=3)  # under the 10 s a transaction may stay idle
MAX_BACKOFF = 60.0
MAX_RETRY_AFTER = 600.0
_sessions: dict[int, aiohttp.ClientSession] = {}


def session() -> aiohttp.ClientSession:
    """This event loop's pooled session (aiohttp binds one to its loop)."""
    loop = asyncio.get_running_loop()
    s = _sessions.get(id(loop))
    if s is None or s.closed:
        s = _sessions[id(loop)] = aiohttp.ClientSession(
            timeout=TIMEOUT, connector=aiohttp.TCPConnector(limit=32, keepalive_timeout=3)
        )
    return s


async def close_sessions() -> None:
    for s in list(_sessions.values()):
        await s.close()
    _sessions.clear()


@dataclass(frozen=True)
class Project:
    """A connection's endpoints and credentials, decrypted for the call and never logged."""

    region: str
    project_id: str
    token: str = field(repr=False)
    username: str = field(repr=False)
    secret: str = field(repr=False)

    def ingest_url(self, settings: Settings) -> str:
        url = settings.mixpanel_ingest_url_eu if self.region == "EU" else settings.mixpanel_ingest_url_us
        return url.rstrip("/")

    def query_url(self, settings: Settings) -> str:
        url = settings.mixpanel_query_url_eu if self.region == "EU" else settings.mixpanel_query_url_us
        return url.rstrip("/")

    @property
    def auth(self) -> dict[str, str]:
        """The service account as a Basic Authorization header."""
        pair = base64.b64encode(f"{self.username}:{self.secret}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}


@dataclass(frozen=True)
class Accepted:
    imported: int
    failed: list[dict[str, Any]]  # failed_records of a 400: index, insert_id, field, message


@dataclass(frozen=True)
class RetryLater:
    reason: str
    delay: float


@dataclass(frozen=True)
class Refused:
    """The peer refused the request itself (bad credentials, a project it does not know): not retried soon."""

    status: int
    reason: str


Outcome = Accepted | RetryLater | Refused


def backoff(attempts: int, retry_after: str | None = None) -> float:
    """Retry-After when given (seconds), else 2 s doubled per failed attempt up to 60 s, with a little jitter."""
    if retry_after:
        try:
            return min(max(float(retry_after), 0.0), MAX_RETRY_AFTER)
        except ValueError:
            pass
    return min(2.0 * 2 ** max(attempts, 0), MAX_BACKOFF) + random.uniform(0, 1)


def _reason(status: int, body: bytes) -> str:
    try:
        data = orjson.loads(body)
        if isinstance(data, dict) and data.get("error"):
            return f"{status}: {data['error']}"
    except orjson.JSONDecodeError:
        pass
    return f"{status}: {body[:200].decode(errors='replace')}"


async def import_events(settings: Settings, project: Project, events: bytes, count: int, attempts: int) -> Outcome:
    """POSTs `events` (a JSON array of `count` events), gzipped."""
    body = gzip.compress(events, compresslevel=1)
    try:
        async with session().post(
            f"{project.ingest_url(settings)}/import",
            params={"strict": "1", "project_id": project.project_id},
            data=body,
            headers={**project.auth, "Content-Type": "application/json", "Content-Encoding": "gzip"},
        ) as r:
            raw = await r.read()
            if r.status == 200:
                return Accepted(int(orjson.loads(raw).get("num_records_imported", count)), [])
            if r.status == 400:
                data = orjson.loads(raw) if raw else {}
                failed = data.get("failed_records") if isinstance(data, dict) else None
                if failed:
                    return Accepted(int(data.get("num_records_imported", 0)), list(failed))
                return Refused(400, _reason(400, raw))
            if r.status == 429 or r.status >= 500:
                return RetryLater(_reason(r.status, raw), backoff(attempts, r.headers.get("Retry-After")))
            return Refused(r.status, _reason(r.status, raw))
    except (TimeoutError, aiohttp.ClientError, orjson.JSONDecodeError) as exc:
        return RetryLater(f"Mixpanel unreachable: {type(exc).__name__}", backoff(attempts))


async def engage(settings: Settings, updates: list[dict[str, Any]], region: str, attempts: int) -> Outcome:
    url = settings.mixpanel_ingest_url_eu if region == "EU" else settings.mixpanel_ingest_url_us
    try:
        async with session().post(
            f"{url.rstrip('/')}/engage",
            params={"verbose": "1"},
            data=orjson.dumps(updates),
            headers={"Content-Type": "application/json"},
        ) as r:
            raw = await r.read()
            if r.status == 429 or r.status >= 500:
                return RetryLater(_reason(r.status, raw), backoff(attempts, r.headers.get("Retry-After")))
            if r.status != 200:
                return Refused(r.status, _reason(r.status, raw))
            data = orjson.loads(raw)
            if data.get("status") != 1:
                return Refused(400, f"profiles refused: {data.get('error')}")
            return Accepted(len(updates), [])
    except (TimeoutError, aiohttp.ClientError, orjson.JSONDecodeError) as exc:
        return RetryLater(f"Mixpanel unreachable: {type(exc).__name__}", backoff(attempts))


async def check(settings: Settings, project: Project) -> str | None:
    """Why the peer refuses these credentials (None: accepted): the service account through an authenticated
    query (one profile of the project), the project token through an empty profile batch."""
    try:
        async with session().post(
            f"{project.query_url(settings)}/api/query/engage",
            params={"project_id": project.project_id},
            data={"page_size": "1"},
            headers=project.auth,
        ) as r:
            raw = await r.read()
            if r.status in (401, 403):
                return (
                    f"Mixpanel refused the service account for project {project.project_id} ({_reason(r.status, raw)})"
                )
            if r.status != 200:
                return f"Mixpanel answered {_reason(r.status, raw)}"
        async with session().post(
            f"{project.ingest_url(settings)}/engage",
            params={"verbose": "1"},
            data=orjson.dumps([{"$token": project.token, "$distinct_id": "partner-platform-check", "$set_once": {}}]),
            headers={"Content-Type": "application/json"},
        ) as r:
            data = orjson.loads(await r.read()) if r.status == 200 else {"status": 0, "error": f"HTTP {r.status}"}
            if data.get("status") != 1:
                return f"Mixpanel refused the project token ({data.get('error')})"
    except (TimeoutError, aiohttp.ClientError, orjson.JSONDecodeError) as exc:
        return f"Mixpanel could not be reached ({type(exc).__name__})"
    return None


class UnknownCohort(Exception):
    pass


async def cohort_members(settings: Settings, project: Project, cohort_id: int) -> AsyncIterator[dict[str, Any]]:
    """Every member of the cohort (`$distinct_id`, `$properties`), page by page; UnknownCohort when the peer
    does not know it; RuntimeError on any other refusal."""
    url = f"{project.query_url(settings)}/api/query/engage"
    form: dict[str, str] = {"filter_by_cohort": orjson.dumps({"id": cohort_id}).decode()}
    while True:
        async with session().post(url, params={"project_id": project.project_id}, data=form, headers=project.auth) as r:
            raw = await r.read()
            if r.status == 400 and not form.get("session_id"):
                raise UnknownCohort(_reason(400, raw))
            if r.status != 200:
                raise RuntimeError(f"Mixpanel answered {_reason(r.status, raw)}")
            data = orjson.loads(raw)
        results = data.get("results") or []
        for member in results:
            yield member
        page_size = int(data.get("page_size") or 1000)
        if len(results) < page_size:
            return
        form = {"session_id": str(data["session_id"]), "page": str(int(data["page"]) + 1)}
