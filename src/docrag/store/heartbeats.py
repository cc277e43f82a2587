"""Worker heartbeats: each worker process keeps one row fresh; readers count the fresh ones.

A process that dies leaves its row behind, going stale; a clean stop removes it. Stale rows are
pruned by the next beat of any worker, so the table stays as small as the fleet.
"""

from __future__ import annotations

from dataclasses import dataclass

from docrag.store.postgres import Store

# A row unseen for a day belongs to a process that is long gone.
_PRUNE_AFTER_SECONDS = 86400.0


@dataclass(frozen=True, slots=True)
class Fleet:
    #: Worker processes seen within the freshness window.
    live: int
    #: Unix time of the newest heartbeat of any registered worker; 0 when none is registered.
    last_seen: float


class WorkerHeartbeats:
    def __init__(self, store: Store) -> None:
        self._store = store

    def beat(self, worker_id: str, threads: int) -> None:
        with self._store.connection() as conn:
            conn.execute(
                "INSERT INTO worker_heartbeats (worker_id, threads) VALUES (%s, %s)"
                " ON CONFLICT (worker_id) DO UPDATE SET seen_at = now(), threads = EXCLUDED.threads",
                (worker_id, threads),
            )
            conn.execute(
                "DELETE FROM worker_heartbeats WHERE seen_at < now() - make_interval(secs => %s::float8)",
                (_PRUNE_AFTER_SECONDS,),
            )

    def forget(self, worker_id: str) -> None:
        with self._store.connection() as conn:
            conn.execute("DELETE FROM worker_heartbeats WHERE worker_id = %s", (worker_id,))

    def fleet(self, fresh_seconds: float) -> Fleet:
        """Workers seen within ``fresh_seconds``, and when the newest heartbeat came."""
        with self._store.connection() as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE seen_at >= now() - make_interval(secs => %s::float8)) AS live,"
                " coalesce(extract(epoch FROM max(seen_at)), 0)::float8 AS last FROM worker_heartbeats",
                (fresh_seconds,),
            ).fetchone()
        assert row is not None
        return Fleet(live=int(row["live"]), last_seen=float(row["last"]))
