"""CPU seconds of a system's processes: a measure other work on a shared machine skews far less
than wall time does.

The processes are this one and everything it started, plus any server whose command line names
the system's work folder (DocRAG's embedded PostgreSQL is re-parented to init, so it is found by
its ``-D`` folder) and that server's children. Each process counts its own time and that of its
children that ended (``/proc``'s cutime/cstime), so sandbox parsers and closed connections are
not lost.
"""

from __future__ import annotations

from pathlib import Path

import psutil


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def cpu_seconds(workdir: Path) -> float:
    me = psutil.Process()
    processes = {p.pid: p for p in _tree(me)}
    folder = str(workdir)
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if proc.pid not in processes and any(folder in part for part in cmdline):
            processes.update((p.pid, p) for p in _tree(proc))
    total = 0.0
    for proc in processes.values():
        try:
            t = proc.cpu_times()
        except psutil.Error:  # ended meanwhile: its time is in its parent's children times
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total
