"""The expand/contract rule for migrations, checked before a blue-green deploy migrates.

During a blue-green deploy the new release ("green") migrates the one database while the
live release ("blue") keeps serving from it, and blue stays up for a rollback afterwards. So a
migration that ships with a release may only *expand* the schema: add tables, nullable columns
or columns with a default, indexes, functions, triggers, grants. What would break the release
before it (dropping or renaming a table or column, changing a column's type, ``SET NOT NULL``
on a column it does not fill, ``TRUNCATE``) is a *contract* step: it ships only in a later
release, once no running release reads the old shape, and its file says so on a line of its own:

    -- contract: <why no running release needs what this removes>

``python -m docrag.store.expand_guard LIVE_MIGRATIONS NEW_MIGRATIONS`` lists the migrations that
NEW has and LIVE lacks and exits 1 when one of them contracts without that line (2 when it has
the line and ``--allow-contract`` was not given), so ``scripts/deploy-production.sh`` refuses
the deploy before anything changes. The check reads the SQL with patterns, not a parser: it is
a guard against the common mistakes, and review still owns the rule.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

#: Statements an older release cannot live with, each with the reason printed for it.
CONTRACT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE | re.DOTALL), reason)
    for pattern, reason in (
        (r"\bDROP\s+(TABLE|VIEW|MATERIALIZED\s+VIEW|TYPE|SCHEMA|SEQUENCE)\b", "drops an object"),
        (r"\bDROP\s+COLUMN\b", "drops a column"),
        (r"\bRENAME\b", "renames an object or column"),
        (r"\bALTER\s+COLUMN\s+\S+\s+(SET\s+DATA\s+)?TYPE\b", "changes a column's type"),
        (r"\bSET\s+NOT\s+NULL\b", "makes a column NOT NULL"),
        (r"\bTRUNCATE\b", "empties a table"),
    )
)

_CONTRACT_MARK = re.compile(r"^\s*--\s*contract:\s*\S", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Finding:
    migration: str
    reason: str
    marked: bool  # the file declares itself a contract migration


def _strip_comments(sql: str) -> str:
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.DOTALL)
    return re.sub(r"--[^\n]*", " ", sql)


_ADD_COLUMN = re.compile(r"\bADD\s+COLUMN\b", re.IGNORECASE)
_NOT_NULL = re.compile(r"\bNOT\s+NULL\b", re.IGNORECASE)
_DEFAULT = re.compile(r"\bDEFAULT\b", re.IGNORECASE)


def contract_reasons(sql: str) -> list[str]:
    """Why this migration's SQL would break the release before it (empty: it only expands)."""
    body = _strip_comments(sql)
    reasons = [reason for pattern, reason in CONTRACT_PATTERNS if pattern.search(body)]
    # The older release's INSERTs do not name a new column: NOT NULL needs a DEFAULT to fill it.
    for statement in body.split(";"):
        for clause in _ADD_COLUMN.split(statement)[1:]:
            if _NOT_NULL.search(clause) and not _DEFAULT.search(clause):
                reasons.append("adds a NOT NULL column without a default")
    return reasons


def new_migrations(live: Path, new: Path) -> list[Path]:
    """The ``.sql`` files of ``new`` that ``live`` does not have, in order."""
    known = {p.name for p in live.glob("*.sql")} if live.is_dir() else set()
    return sorted(p for p in new.glob("*.sql") if p.name not in known)


def check(live: Path, new: Path) -> list[Finding]:
    """Every contract statement in the migrations that ``new`` adds to ``live``."""
    findings: list[Finding] = []
    for path in new_migrations(live, new):
        sql = path.read_text(encoding="utf-8")
        marked = bool(_CONTRACT_MARK.search(sql))
        findings.extend(Finding(path.name, reason, marked) for reason in contract_reasons(sql))
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docrag.store.expand_guard", description=__doc__)
    parser.add_argument("live", type=Path, help="the live release's migrations folder")
    parser.add_argument("new", type=Path, help="the new release's migrations folder")
    parser.add_argument("--allow-contract", action="store_true", help="accept marked contract migrations")
    args = parser.parse_args(argv)
    added = new_migrations(args.live, args.new)
    findings = check(args.live, args.new)
    print(f"migrations new in this release: {', '.join(p.name for p in added) or 'none'}")
    status = 0
    for f in findings:
        if not f.marked:
            print(f"REFUSED {f.migration}: {f.reason}, and it lacks a '-- contract:' line", file=sys.stderr)
            status = 1
        elif not args.allow_contract:
            why = f"contract migration ({f.reason}); deploy it with --allow-contract"
            print(f"REFUSED {f.migration}: {why}", file=sys.stderr)
            status = max(status, 2)
        else:
            print(f"contract migration accepted: {f.migration}: {f.reason}")
    if status == 0:
        print("expand-only: the live release works with the migrated schema")
    return status


if __name__ == "__main__":
    sys.exit(main())
