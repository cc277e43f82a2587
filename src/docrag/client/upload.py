"""A file opened for upload that reports how many of its bytes were sent."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

#: Called with (bytes sent, total bytes) as the upload's body is sent.
Progress = Callable[[int, int], None]


class ProgressReader:
    """Reads ``source`` for httpx's multipart body, calling ``progress`` after each chunk.

    httpx seeks to 0 before each send, so a retried upload counts from 0 again.
    """

    def __init__(self, source: BinaryIO, progress: Progress | None) -> None:
        self._source = source
        self._progress = progress
        self._sent = 0
        self.total = source.seek(0, os.SEEK_END)
        source.seek(0)

    def read(self, size: int = -1) -> bytes:
        chunk = self._source.read(size)
        self._sent += len(chunk)
        if self._progress is not None and (chunk or self.total == 0):
            self._progress(self._sent, self.total)
        return chunk

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        position = self._source.seek(offset, whence)
        if whence == os.SEEK_SET:
            self._sent = position
        return position

    def tell(self) -> int:
        return self._source.tell()


def filename_of(file: Path | str | BinaryIO, filename: str | None) -> str:
    if filename is not None:
        return filename
    if isinstance(file, Path | str):
        return Path(file).name
    return Path(str(getattr(file, "name", "upload"))).name
