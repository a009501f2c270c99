"""The embedded PostgreSQL's zone folder is brought in line with the pinned tzdata package (Python's rules)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from infra import embedded
from shared import zone_rules

ASUNCION = "America/Asuncion"


@pytest.fixture
def pg_zone_dir(tmp_path: Path) -> Path:
    """A copy of a PostgreSQL zone folder with rules older than the package's and a name only PostgreSQL has."""
    folder = tmp_path / "timezone"
    (folder / "America").mkdir(parents=True)
    (folder / ASUNCION).write_bytes(b"TZif2 older rules")
    (folder / "Europe").mkdir()
    shutil.copyfile(zone_rules.tzif_files()["Europe/London"], folder / "Europe" / "London")
    (folder / "posixrules").write_bytes(b"TZif2 PostgreSQL's own")
    return folder


def test_the_sync_copies_the_packages_zone_files_once_per_version_and_keeps_postgresqls_own_names(
    pg_zone_dir: Path,
) -> None:
    sources = zone_rules.tzif_files()
    assert ASUNCION in sources and "Europe/London" in sources and len(sources) > 500
    assert not any(n.endswith((".py", ".tab", ".zi")) or "__init__" in n for n in sources)

    assert embedded.sync_zone_rules(pg_zone_dir) == len(sources) - 1  # London was already the same
    assert (pg_zone_dir / ASUNCION).read_bytes() == sources[ASUNCION].read_bytes()
    assert (pg_zone_dir / "posixrules").read_bytes() == b"TZif2 PostgreSQL's own"
    assert not (pg_zone_dir / "__init__.py").exists() and not (pg_zone_dir / "zone.tab").exists()
    assert (pg_zone_dir / embedded.ZONE_STAMP).read_text().strip() == zone_rules.IANA_VERSION
    assert not list(pg_zone_dir.rglob("*.tmp"))
    assert (pg_zone_dir / ASUNCION).stat().st_mode & 0o777 == 0o644

    before = {p: p.stat().st_mtime_ns for p in pg_zone_dir.rglob("*")}
    assert embedded.sync_zone_rules(pg_zone_dir) == 0  # the stamp: done for this version
    assert {p: p.stat().st_mtime_ns for p in pg_zone_dir.rglob("*")} == before

    (pg_zone_dir / embedded.ZONE_STAMP).write_text("2024a\n")  # a newer package: only what changed is rewritten
    (pg_zone_dir / ".London.x.tmp").write_bytes(b"TZ")  # left by a sync killed midway
    assert embedded.sync_zone_rules(pg_zone_dir) == 0
    assert (pg_zone_dir / embedded.ZONE_STAMP).read_text().strip() == zone_rules.IANA_VERSION
    assert not list(pg_zone_dir.rglob("*.tmp"))


def test_a_file_replaced_by_a_rename_leaves_its_hard_links_elsewhere_untouched(pg_zone_dir: Path) -> None:
    cached = pg_zone_dir.parent / "uv-cache-copy"
    os.link(pg_zone_dir / ASUNCION, cached)  # uv installs wheels as hard links to its cache
    embedded.sync_zone_rules(pg_zone_dir)
    assert cached.read_bytes() == b"TZif2 older rules"


def test_a_folder_that_cannot_be_written_is_a_warning_and_the_server_still_starts(
    pg_zone_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(path: Path, data: bytes) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(embedded, "_write_atomically", refuse)
    with caplog.at_level(logging.WARNING, logger=embedded.__name__):
        assert embedded.sync_zone_rules(pg_zone_dir) is None
    assert (pg_zone_dir / ASUNCION).read_bytes() == b"TZif2 older rules"
    assert not (pg_zone_dir / embedded.ZONE_STAMP).exists()
    assert any("zone rules" in r.getMessage() and "Permission denied" in r.getMessage() for r in caplog.records)


def test_the_embedded_servers_folder_is_stamped_with_the_packages_version(servers: None) -> None:
    """The harness's embedded server (started by `servers`) reads the package's rules."""
    zone_dir = embedded._pg_zone_dir(embedded._pg_bin())
    assert zone_dir is not None, "the pgserver wheel's PostgreSQL reads its own zone folder"
    assert (zone_dir / embedded.ZONE_STAMP).read_text().strip() == zone_rules.IANA_VERSION
    assert (zone_dir / ASUNCION).read_bytes() == zone_rules.tzif_files()[ASUNCION].read_bytes()


def test_python_reads_zones_from_the_pinned_package_not_the_systems_folders() -> None:
    import zoneinfo

    assert zoneinfo.TZPATH == ()
    assert zone_rules.known_zones() >= {ASUNCION, "Europe/London"}
