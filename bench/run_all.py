"""Runs every benchmark once, in order, and prints the figures together (never fails on timing).

    PYTHONPATH=. uv run python bench/run_all.py [--duration 10] [--xlsx-rows N] [--quick] [--client raw|httpx]

The first run loads the data set (about 40 s for 1,000,000 orders); later runs reuse it. A full run takes
about 10 minutes on the 2-core machine, most of it the 1,000,000-row XLSX export and its floor; `--quick`
limits the XLSX case to 200,000 rows and uses 5-second cases.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=None, help="seconds per load case (default 10; 5 with --quick)")
    ap.add_argument("--xlsx-rows", type=int, default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--client", default=None, choices=("raw", "httpx"))
    ap.add_argument("--only", default="", help="comma-separated subset: orders_page,orders_summary,exports,webhooks")
    args = ap.parse_args()
    duration = args.duration or (5 if args.quick else 10)
    xlsx_rows = args.xlsx_rows if args.xlsx_rows is not None else (200_000 if args.quick else 0)
    common = ["--duration", str(duration)] + (["--client", args.client] if args.client else [])
    runs = [
        ("orders_page", ["orders_page.py", *common]),
        ("orders_summary", ["orders_summary.py", *common]),
        ("exports", ["exports.py", *common] + (["--xlsx-rows", str(xlsx_rows)] if xlsx_rows else [])),
        ("webhooks", ["webhooks.py", *common] + (["--configs", "1x8,1x8:p64,2x8:p64"] if args.quick else [])),
    ]
    only = {s for s in args.only.split(",") if s}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # Outside a git checkout both come back empty: the commit prints as "?", the tree as clean.
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    figures: list[str] = [
        f"code: commit {head or '?'}{' plus uncommitted changes' if dirty else ''};"
        f" {os.cpu_count()} cores; load average before the run {os.getloadavg()[0]:.2f}"
    ]
    print(figures[0], flush=True)
    started = time.monotonic()
    for name, cmd in runs:
        if only and name not in only:
            continue
        t0 = time.monotonic()
        print(f"== {name}", flush=True)
        p = subprocess.Popen(
            [sys.executable, str(HERE / cmd[0]), *cmd[1:]], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        assert p.stdout is not None
        for line in p.stdout:
            print(line, end="", flush=True)
            figures.append(line.rstrip())
        code = p.wait()
        if code:
            figures.append(f"{name}: exited with code {code} (see its output above and bench/out/logs/)")
        print(f"== {name} took {time.monotonic() - t0:.0f}s", flush=True)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    print(f"\n== figures ({stamp}, {time.monotonic() - started:.0f}s in all)")
    for f in figures:
        print(f)
    out = ROOT / "bench" / "out" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "run_all.txt").write_text(f"{stamp}\n" + "\n".join(figures) + "\n")


if __name__ == "__main__":
    main()
