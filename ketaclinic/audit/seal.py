"""Seals: what holds the audit trail against whoever can write the database.

The hash chain (``chain.py``) shows an entry changed in place, but anyone who can write the
tables can recompute every hash after a forged, deleted or rewritten entry, and the head row with
them. Three things here need a key the database does not hold (``settings.AUDIT_KEY``):

- each entry's **seal**, an HMAC-SHA256 of its hash: a forged or rewritten entry cannot be sealed;
- the **checkpoint**, a file outside the database naming the newest entry (its number, its hash and
  the first entry's hash), sealed too and advanced after every commit: deleting the newest
  entries, every entry, or replacing the whole trail with a fresh one shows against it;
- each clinical row's **row seal**, an HMAC of the row's stored values (``rows.py``): a row edited,
  inserted or deleted in the database directly no longer matches its seal.

Everything here is pure but for the checkpoint file, which is read and written under a lock so that
several processes (the web server's, the worker's) advance it in order.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path


def _mac(key: bytes, purpose: str, payload: str) -> str:
    # The purpose keeps an entry's seal from being replayed as a checkpoint's or a row's.
    return hmac.new(key, f"{purpose}\n{payload}".encode(), hashlib.sha256).hexdigest()


def entry_seal(key: bytes, entry_hash: str) -> str:
    """The seal of one audit entry: its hash covers its content and the previous entry's hash."""
    return _mac(key, "ketaclinic audit entry", entry_hash)


def seal_matches(key: bytes, entry_hash: str, seal: str) -> bool:
    return hmac.compare_digest(entry_seal(key, entry_hash), seal)


def row_payload(fields: list[str], values: dict[str, object]) -> str:
    """The canonical text of a row's stored values, in the order of ``fields``."""
    return json.dumps([[name, values.get(name)] for name in fields], separators=(",", ":"), default=str)


def row_seal(
    key: bytes, object_type: str, object_id: str, fields: list[str], values: dict[str, object]
) -> str:
    return _mac(key, "ketaclinic row", f"{object_type}\n{object_id}\n{row_payload(fields, values)}")


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    first_hash: str  # the first entry's hash: which trail this checkpoint belongs to
    at: str
    seal: str = ""

    def payload(self) -> str:
        return f"{self.seq}\n{self.hash}\n{self.first_hash}\n{self.at}"

    def sealed(self, key: bytes) -> Checkpoint:
        return Checkpoint(
            self.seq, self.hash, self.first_hash, self.at, _mac(key, "ketaclinic checkpoint", self.payload())
        )

    def is_sealed_by(self, key: bytes) -> bool:
        return hmac.compare_digest(_mac(key, "ketaclinic checkpoint", self.payload()), self.seal)


class CheckpointError(Exception):
    """The checkpoint file is there but cannot be read as one."""


def read_checkpoint(path: Path) -> Checkpoint | None:
    """The checkpoint in ``path``, or None when there is none yet."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        return Checkpoint(
            seq=int(data["seq"]),
            hash=str(data["hash"]),
            first_hash=str(data["first_hash"]),
            at=str(data["at"]),
            seal=str(data["seal"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path} is not an audit checkpoint ({exc})") from None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{path}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write(path: Path, checkpoint: Checkpoint) -> None:
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(checkpoint), f, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)  # readers see the old checkpoint or the new one, never half of one


def advance_checkpoint(path: Path, key: bytes, checkpoint: Checkpoint) -> bool:
    """Write ``checkpoint`` unless the file already names a newer entry of the same trail.

    Processes commit in one order and run their after-commit work in another; the lock and the
    comparison keep the file from going back. A checkpoint of another trail, or one that does
    not read, is left for ``audit verify`` to report rather than overwritten.
    """
    with _locked(path):
        try:
            current = read_checkpoint(path)
        except CheckpointError:
            return False
        if current is not None and (
            current.first_hash != checkpoint.first_hash or current.seq >= checkpoint.seq
        ):
            return False
        _write(path, checkpoint.sealed(key))
        return True


def replace_checkpoint(path: Path, key: bytes, checkpoint: Checkpoint | None, stamp: str) -> Path | None:
    """Start the checkpoint afresh (after a restore), keeping the old file beside it as
    ``<name>.before-<stamp>``; with ``checkpoint`` None (an empty trail) the next write starts one.

    Returns where the old file was kept, if there was one.
    """
    with _locked(path):
        kept = None
        if path.exists():
            kept = path.with_name(f"{path.name}.before-{stamp}")
            os.replace(path, kept)
        if checkpoint is not None:
            _write(path, checkpoint.sealed(key))
        return kept
