"""The hash chain, as pure functions over plain values (no database).

Each entry's hash is SHA-256 over its canonical JSON (sorted keys, no whitespace) including the
previous entry's hash, so changing, deleting, inserting or reordering any entry breaks every hash
after it. ``verify`` walks a sequence of entries and names the first one that does not fit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64

HASHED_FIELDS = (
    "seq",
    "at",
    "user_id",
    "username",
    "clinic_id",
    "action",
    "object_type",
    "object_id",
    "patient_id",
    "detail",
    "client_addr",
)


def canonical(entry: Mapping[str, Any], prev_hash: str, fields: Sequence[str] = HASHED_FIELDS) -> bytes:
    body = {name: entry.get(name) for name in fields}
    body["prev_hash"] = prev_hash
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def entry_hash(entry: Mapping[str, Any], prev_hash: str, fields: Sequence[str] = HASHED_FIELDS) -> str:
    return hashlib.sha256(canonical(entry, prev_hash, fields)).hexdigest()


@dataclass(frozen=True)
class Problem:
    seq: int
    kind: str  # "modified", "deleted", "inserted" or "reordered"
    message: str


def verify(
    entries: Iterable[Mapping[str, Any]],
    head: tuple[int, str] | None = None,
    fields: Sequence[str] = HASHED_FIELDS,
) -> Problem | None:
    """Return the first problem in a chain read in ``seq`` order, or None when it is intact.

    ``entries`` carry the hashed fields plus ``prev_hash`` and ``hash`` as stored; ``head`` is the
    (seq, hash) the writer recorded for the newest entry, which catches a truncated tail.
    ``fields`` names what is hashed: the audit trail's by default; the controlled-substance ledger
    (``ledger/``) hashes its own.

    >>> e1 = {"seq": 1, "at": "t", "action": "a"}
    >>> e1 |= {"prev_hash": GENESIS, "hash": entry_hash(e1, GENESIS)}
    >>> verify([e1]) is None
    True
    >>> verify([{**e1, "action": "b"}]).kind
    'modified'
    """
    rows = list(entries)
    position_of_hash = {row["hash"]: i for i, row in enumerate(rows)}
    expected_prev, expected_seq = GENESIS, 1
    for i, entry in enumerate(rows):
        seq = int(entry["seq"])
        stored_prev = entry["prev_hash"]
        if entry_hash(entry, stored_prev, fields) != entry["hash"]:
            return Problem(
                seq, "modified", f"entry {seq} was modified: its content no longer matches its hash"
            )
        if seq > expected_seq and stored_prev not in position_of_hash:
            return Problem(
                seq,
                "deleted",
                f"entries {expected_seq} to {seq - 1} were deleted (missing before {seq})",
            )
        if stored_prev != expected_prev:
            if position_of_hash.get(stored_prev, -1) > i:
                return Problem(
                    seq, "reordered", f"entry {seq} was moved: it follows an entry stored after it"
                )
            if stored_prev in position_of_hash or stored_prev == GENESIS:
                return Problem(seq, "inserted", f"an entry was inserted before entry {seq}")
            return Problem(
                seq,
                "modified",
                f"entry {seq} does not follow from the entry before it (that one was altered)",
            )
        if seq != expected_seq:
            return Problem(seq, "inserted", f"entry {seq} is out of sequence: expected number {expected_seq}")
        expected_prev, expected_seq = entry["hash"], seq + 1
    if head is not None and head != (expected_seq - 1, expected_prev):
        last = expected_seq - 1
        if head[0] > last:
            return Problem(last + 1, "deleted", f"entries {last + 1} to {head[0]} were deleted from the end")
        return Problem(
            head[0] + 1,
            "inserted",
            f"entries after {head[0]} were appended outside the audit writer",
        )
    return None
