"""Runs an HTTP API of the platform: `python -m shared.service.serve <module:factory> [--host H] [--port N]`.

What `uvicorn --factory <module:factory>` did, plus every limit of shared/service/server.py from the settings
(HTTP_MAX_HEADER_BYTES, HTTP_HEADER_TIMEOUT_SECONDS, HTTP_BODY_TIMEOUT_SECONDS, HTTP_IDLE_TIMEOUT_SECONDS,
HTTP_MAX_CONCURRENCY), which the uvicorn command line cannot select (its `--http` takes only auto, h11 or
httptools). At start it raises the soft open-files limit to the hard one (a default soft limit of 1,024 would be
used up by HTTP_MAX_CONCURRENCY connections), lowers the concurrency limit to what the descriptors allow, and
logs the limits it serves with.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import resource
import sys

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.importer import ImportFromStringError

from shared import logging as slog
from shared.config import get_settings
from shared.service.server import BACKLOG, server_config

logger = logging.getLogger("shared.service.serve")

# Descriptors kept for everything that is not a client connection: database and Redis pools, outgoing HTTP
# clients, log files, the listening socket.
RESERVED_DESCRIPTORS = 256
# What "no hard limit" becomes (Linux refuses an infinite soft limit above fs.nr_open, 1,048,576 by default).
UNLIMITED_FILES = 1 << 20


def raise_open_files_limit() -> tuple[int, int]:
    """Raises the soft RLIMIT_NOFILE to the hard one; returns (soft, hard) as they are afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_FILES if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        # On failure the limit stays as it was, and the concurrency limit is lowered to fit below it.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.service.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="the ASGI app factory, module:function (e.g. services.gateway.app:app)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-access-log", dest="access_log", action="store_false", help="no access log lines")
    args = parser.parse_args(argv)

    settings = get_settings()
    soft, hard = raise_open_files_limit()
    wanted = settings.http_max_concurrency
    limit = wanted
    if wanted > 0 and soft != resource.RLIM_INFINITY and wanted + RESERVED_DESCRIPTORS > soft:
        limit = max(1, soft - RESERVED_DESCRIPTORS)

    def announce() -> None:
        # Runs once the factory has configured logging, so the line is JSON like every other.
        slog.log(
            logger,
            logging.INFO,
            f"serving {args.target} on {args.host}:{args.port}",
            open_files_limit=soft,
            open_files_hard_limit=hard,
            max_concurrency=limit,
            max_header_bytes=settings.http_max_header_bytes,
            header_timeout_seconds=settings.http_header_timeout_seconds,
            body_timeout_seconds=settings.http_body_timeout_seconds,
            idle_timeout_seconds=settings.http_idle_timeout_seconds,
            backlog=BACKLOG,
        )
        if limit != wanted:
            slog.log(
                logger,
                logging.WARNING,
                f"HTTP_MAX_CONCURRENCY {wanted} lowered to {limit}: the open-files limit is {soft}",
                wanted=wanted,
                max_concurrency=limit,
                open_files_limit=soft,
            )

    try:
        config = server_config(
            args.target,
            host=args.host,
            port=args.port,
            settings=settings,
            max_concurrency=limit,
            access_log=args.access_log,
            on_loaded=announce,
        )
    except ImportFromStringError as exc:
        print(f"cannot load {args.target}: {exc}", file=sys.stderr)
        sys.exit(STARTUP_FAILURE)
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)  # as uvicorn's command line does when the server could not start


if __name__ == "__main__":
    main()
