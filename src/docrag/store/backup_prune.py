"""``docrag backup prune``: retention of daily and weekly backups.

Kept: the newest backup of each of the ``keep_daily`` most recent days that have one, the
newest of each of the ``keep_weekly`` most recent ISO weeks that have one, and always the
newest backup of all. Everything else in the folder that is a complete backup goes, and so do
``*.partial`` folders (a backup that crashed) older than a day. Times are the manifests'
(UTC), not the folders' names or modification times.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from docrag.store.backup import MANIFEST, PARTIAL, PREFIX, read_manifest

STALE_PARTIAL = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Backup:
    path: Path
    created: datetime


def list_backups(root: Path) -> list[Backup]:
    """The complete backups under ``root``, newest first."""
    found = []
    if root.is_dir():
        for path in root.iterdir():
            if path.is_dir() and path.name.startswith(PREFIX) and (path / MANIFEST).is_file():
                created = datetime.fromisoformat(read_manifest(path)["created_at"]).astimezone(UTC)
                found.append(Backup(path, created))
    return sorted(found, key=lambda b: (b.created, b.path.name), reverse=True)


def plan(backups: list[Backup], keep_daily: int, keep_weekly: int) -> tuple[list[Backup], list[Backup]]:
    """(kept, removed) of ``backups`` (newest first), each newest first."""
    days: dict[object, Backup] = {}
    weeks: dict[object, Backup] = {}
    for backup in backups:
        day = backup.created.date()
        week = backup.created.isocalendar()[:2]
        if day not in days and len(days) < keep_daily:
            days[day] = backup
        if week not in weeks and len(weeks) < keep_weekly:
            weeks[week] = backup
    keep = {b.path for b in [*days.values(), *weeks.values(), *backups[:1]]}
    return [b for b in backups if b.path in keep], [b for b in backups if b.path not in keep]


def stale_partials(root: Path, now: datetime) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.iterdir()
        if p.is_dir() and p.name.startswith(PREFIX) and p.name.endswith(PARTIAL)
        and now - datetime.fromtimestamp(p.stat().st_mtime, UTC) > STALE_PARTIAL
    )  # fmt: skip


def prune(
    root: Path, keep_daily: int, keep_weekly: int, *, dry_run: bool = False
) -> tuple[list[Backup], list[Path]]:
    """Apply the retention; return the kept backups and the removed (or, dry, removable) paths."""
    kept, removed = plan(list_backups(root), keep_daily, keep_weekly)
    paths = [b.path for b in removed] + stale_partials(root, datetime.now(UTC))
    if not dry_run:
        for path in paths:
            shutil.rmtree(path)
    return kept, paths
