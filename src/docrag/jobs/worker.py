"""Worker threads that claim and run ingestion jobs until stopped.

Any number of workers, in any number of processes on any machines, share one database: a
job is claimed by exactly one of them (``FOR UPDATE SKIP LOCKED``) and held under a lease
that a heartbeat thread extends. A worker that dies simply stops extending its leases; its
jobs become claimable again when they run out.

Fairness: the claim puts the tenant with the fewest running jobs first, and a worker's last free
thread takes only uploads up to ``DOCRAG_EXPRESS_LANE_BYTES`` while its other threads are all busy
with larger ones: one tenant's huge files never keep another tenant's small upload waiting.

Stopping: :meth:`Worker.stop` makes the threads stop claiming and finish their current job;
with ``hand_back=True`` they instead return it to the queue at the next checkpoint. Under
:meth:`Worker.run_until_signalled` the first SIGTERM or SIGINT drains, a second hands back.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
from collections import Counter
from collections.abc import Callable
from types import FrameType

from docrag.domain import Job
from docrag.errors import DocRAGError
from docrag.jobs.group_runner import GroupRunner
from docrag.jobs.runner import JobOutcome, JobRunner
from docrag.settings import Settings
from docrag.store.heartbeats import WorkerHeartbeats
from docrag.store.protocol import JobQueue

_log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        jobs: JobQueue,
        runner: JobRunner,
        settings: Settings,
        *,
        concurrency: int | None = None,
        heartbeats: WorkerHeartbeats | None = None,
    ) -> None:
        self._jobs = jobs
        #: This process's liveness row (docrag_workers_live in /metrics), refreshed with the leases.
        self._heartbeats = heartbeats
        self._groups = GroupRunner(jobs, runner)
        #: Small uploads are claimed and run in groups of up to this many (jobs/group_runner.py).
        self._group_jobs = settings.worker_group_jobs
        self._group_bytes = settings.worker_group_bytes
        self._lease = settings.job_lease_seconds
        self._express_bytes = settings.express_lane_bytes
        self._claim_lock = threading.Lock()  # claims of this process's threads, one at a time
        self._large_running = 0  # threads busy with an upload over the express lane's size
        self._poll = settings.job_poll_seconds
        base = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.process_id = base
        #: One id per thread: a job is fenced on the one thread that claimed it.
        self.worker_ids = [f"{base}/{n}" for n in range(concurrency or settings.worker_concurrency)]
        self.outcomes: Counter[JobOutcome] = Counter()
        #: Seconds per ingestion stage over this worker's jobs (see JobRunner.stage_seconds).
        self.stage_seconds = runner.stage_seconds
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._wake = threading.Event()
        self._idle = threading.Event()  # set when every claiming thread has exited
        self._lock = threading.Lock()
        self._running = 0
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._running = len(self.worker_ids)
        self._beat()
        for worker_id in self.worker_ids:
            self._spawn(self._loop, worker_id, name=f"docrag-worker-{worker_id.rsplit('/', 1)[1]}")
        self._spawn(self._heartbeat, name="docrag-worker-heartbeat")
        self._spawn(self._jobs.listen, self._stop, self._wake.set, name="docrag-worker-listen")

    def _spawn(self, target: Callable[..., None], *args: object, name: str) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, *, hand_back: bool = False) -> None:
        """Stop claiming; finish the current jobs, or with ``hand_back`` queue them again."""
        if hand_back:
            self._abort.set()
        self._stop.set()
        self._wake.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the claiming threads to finish; :returns: whether they all did."""
        if not self._threads:
            return True  # never started
        finished = self._idle.wait(timeout)
        if finished:
            for thread in self._threads:
                thread.join(timeout=max(self._poll, 1.0) + 1.0)
        return finished

    def run_until_signalled(self) -> None:
        """Run in the foreground until SIGTERM/SIGINT (the first drains, a second hands back)."""

        def handle(signum: int, _: FrameType | None) -> None:
            again = self._stop.is_set()
            _log.info("%s: %s", signal.Signals(signum).name, "handing back" if again else "finishing up")
            self.stop(hand_back=again)

        previous = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            while not self.join(timeout=0.5):  # short waits keep the main thread responsive to signals
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _loop(self, worker_id: str) -> None:
        try:
            while not self._stop.is_set():
                try:
                    group, large = self._claim(worker_id)
                    if not group:
                        self._wake.wait(self._poll)
                        self._wake.clear()
                        continue
                    try:
                        outcomes = self._groups.run(group, self._abort)
                    finally:
                        if large:
                            with self._lock:
                                self._large_running -= 1
                except DocRAGError as exc:
                    # The database is unreachable: a held job stays leased until another worker
                    # (or this one, later) takes it over.
                    _log.warning("worker %s: %s; retrying in %.1fs", worker_id, exc.message, self._poll)
                    self._stop.wait(self._poll)
                    continue
                except Exception:  # a bug: logged; the thread keeps serving and the lease covers the job
                    _log.exception("worker %s: unexpected error", worker_id)
                    self._stop.wait(self._poll)
                    continue
                with self._lock:
                    self.outcomes.update(outcomes)
                for job, outcome in zip(group, outcomes, strict=True):
                    _log.info("job %s (document %s): %s", job.id, job.document_id, outcome.value)
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0:
                    self._idle.set()

    def _claim(self, worker_id: str) -> tuple[list[Job], bool]:
        """Jobs for this thread (one, or a group of one tenant's small uploads), and whether it
        is a large one (counted until it is done)."""
        with self._claim_lock:
            with self._lock:
                express_only = 1 < len(self.worker_ids) <= self._large_running + 1
            group = self._jobs.claim_group(
                worker_id,
                self._lease,
                max_bytes=self._express_bytes if express_only else None,
                count=self._group_jobs,
                group_bytes=self._group_bytes,
            )
            large = any(job.size_bytes > self._express_bytes for job in group)
            if large:
                with self._lock:
                    self._large_running += 1
        return group, large

    def _heartbeat(self) -> None:
        # Runs until the claiming threads are done, so jobs being finished after stop() keep their lease.
        while not self._idle.wait(self._lease / 3):
            try:
                self._jobs.heartbeat(self.worker_ids, self._lease)
            except DocRAGError as exc:
                _log.warning("heartbeat failed: %s", exc.message)
            self._beat()
        if self._heartbeats is not None:
            try:
                self._heartbeats.forget(self.process_id)
            except DocRAGError as exc:  # the row goes stale instead: readers stop counting it
                _log.warning("removing the worker heartbeat failed: %s", exc.message)

    def _beat(self) -> None:
        if self._heartbeats is None:
            return
        try:
            self._heartbeats.beat(self.process_id, len(self.worker_ids))
        except DocRAGError as exc:
            _log.warning("worker heartbeat failed: %s", exc.message)
