"""Master keys (docs/encryption.md): they wrap the tenants' data keys and never enter the database.

They come from ``DOCRAG_MASTER_KEY`` or the file ``DOCRAG_MASTER_KEY_FILE``, as ``id:base64``
entries of 32 bytes, comma- or newline-separated (``#`` starts a comment line). The first entry is
the current key: new data keys are wrapped with it, and ``docrag crypto rotate-master`` rewraps
every data key with it. The others are still accepted for unwrapping until they are removed,
which is how a master key rotates without downtime. With neither set, a single-machine install
(the embedded server) makes ``<data_dir>/master.key`` at its first start, readable by its owner
alone, like the data files beside it; a production deployment keeps its master key elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from docrag.errors import KeyUnavailable
from docrag.settings import Settings

KEY_BYTES = 32  # AES-256
FILE_NAME = "master.key"
_log = logging.getLogger(__name__)
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class MasterKeys:
    """The configured master keys by id; ``current`` wraps new and rewrapped data keys."""

    keys: dict[str, bytes]
    current: str

    def key(self, key_id: str) -> bytes:
        found = self.keys.get(key_id)
        if found is None:
            raise KeyUnavailable(
                f"master key {key_id!r} is not configured (retired, or another deployment's)"
            )
        return found

    def __repr__(self) -> str:  # never the key bytes, in a log or a traceback
        return f"MasterKeys(ids={sorted(self.keys)}, current={self.current!r})"


def parse(text: str) -> MasterKeys:
    """Master keys from ``id:base64`` entries; :raises ValueError: naming the bad entry (not its key)."""
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for n, raw in enumerate(re.split(r"[,\n]", text), 1):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep or not _ID.match(key_id):
            raise ValueError(f"master key entry {n}: expected id:base64 with an id of [A-Za-z0-9_.-]")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error:
            raise ValueError(f"master key {key_id!r}: not base64") from None
        if len(key) != KEY_BYTES:
            raise ValueError(f"master key {key_id!r}: {len(key)} bytes, expected {KEY_BYTES}")
        if key_id in keys:
            raise ValueError(f"master key {key_id!r} appears twice")
        keys[key_id] = key
        order.append(key_id)
    if not order:
        raise ValueError("no master key configured")
    return MasterKeys(keys, order[0])


def new_entry(key_id: str | None = None) -> str:
    """A fresh ``id:base64`` entry (``docrag crypto new-master-key``)."""
    key_id = key_id or "m" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    if not _ID.match(key_id):
        raise ValueError("a master key id is 1-64 of [A-Za-z0-9_.-]")
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


def load(settings: Settings) -> MasterKeys:
    """The configured master keys; without any, the key file in the data dir (made at first start)."""
    if settings.master_key is not None:
        return parse(settings.master_key.get_secret_value())
    if settings.master_key_file is not None:
        return parse(settings.master_key_file.expanduser().read_text(encoding="utf-8"))
    path = settings.resolved_data_dir() / FILE_NAME
    if not path.exists():
        if settings.database_url is not None:
            _log.warning(
                "no DOCRAG_MASTER_KEY_FILE or DOCRAG_MASTER_KEY: making %s; every API and worker on"
                " this database needs the same master key (docs/encryption.md)",
                path,
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: two first starts at once keep one key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(
                    "# DocRAG master key (docs/encryption.md): keep a copy apart from the backups\n"
                    + new_entry("m1")
                    + "\n"
                )
    return parse(path.read_text(encoding="utf-8"))
