"""The hash chain's verdicts stated exactly: which entry, which kind of tampering, and the words
an auditor reads, for each way a chain can be broken (pure: no database)."""

from __future__ import annotations

import hashlib
import json

import pytest

from ketaclinic.audit import chain
from ketaclinic.audit.chain import GENESIS, Problem


def build(n, fields=chain.HASHED_FIELDS):
    rows, prev = [], GENESIS
    for seq in range(1, n + 1):
        row = {"seq": seq, "at": f"2026-12-07T10:0{seq}:00Z", "action": f"act{seq}", "username": "nina"}
        row |= {"prev_hash": prev, "hash": chain.entry_hash(row, prev, fields)}
        rows.append(row)
        prev = row["hash"]
    return rows


def relink(rows, start):
    """Recompute hashes from ``start`` on, as a forger who can rewrite rows would."""
    prev = rows[start - 1]["hash"] if start else GENESIS
    for row in rows[start:]:
        row["prev_hash"] = prev
        row["hash"] = chain.entry_hash(row, prev)
        prev = row["hash"]
    return rows


def test_the_hash_is_sha256_of_the_canonical_json_with_the_previous_hash():
    entry = {"seq": 1, "action": "a", "detail": {"b": 1, "a": [1, 2]}, "extra": "not hashed"}
    body = dict.fromkeys(chain.HASHED_FIELDS) | {"seq": 1, "action": "a", "detail": {"b": 1, "a": [1, 2]}}
    body["prev_hash"] = "p" * 64
    expected = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    assert chain.canonical(entry, "p" * 64) == expected
    assert chain.entry_hash(entry, "p" * 64) == hashlib.sha256(expected).hexdigest()
    assert chain.canonical({"seq": 1, "x": 2}, GENESIS, fields=("x",)) == (
        b'{"prev_hash":"' + GENESIS.encode() + b'","x":2}'
    )


def test_an_intact_chain_and_its_head():
    rows = build(3)
    assert chain.verify(rows) is None
    assert chain.verify(rows, head=(3, rows[-1]["hash"])) is None
    assert chain.verify([], head=(0, GENESIS)) is None


def test_a_modified_entry():
    rows = build(3)
    rows[1]["action"] = "forged"
    assert chain.verify(rows) == Problem(
        2, "modified", "entry 2 was modified: its content no longer matches its hash"
    )


def test_an_entry_rewritten_with_its_hash_breaks_the_next_link():
    rows = build(3)
    rows[1]["action"] = "forged"
    rows[1]["hash"] = chain.entry_hash(rows[1], rows[1]["prev_hash"])
    assert chain.verify(rows) == Problem(
        3, "modified", "entry 3 does not follow from the entry before it (that one was altered)"
    )


@pytest.mark.parametrize("gone", [[1], [1, 2]])
def test_deleted_entries_in_the_middle(gone):
    rows = build(4)
    kept = [r for i, r in enumerate(rows) if i not in gone]
    last_gone = gone[-1] + 1
    assert chain.verify(kept) == Problem(
        last_gone + 1, "deleted", f"entries 2 to {last_gone} were deleted (missing before {last_gone + 1})"
    )


def test_the_first_entry_deleted():
    rows = build(3)[1:]
    assert chain.verify(rows) == Problem(2, "deleted", "entries 1 to 1 were deleted (missing before 2)")


def test_reordered_entries():
    rows = build(3)
    rows[1], rows[2] = rows[2], rows[1]
    assert chain.verify(rows) == Problem(
        3, "reordered", "entry 3 was moved: it follows an entry stored after it"
    )


def test_an_inserted_entry():
    rows = build(3)
    forged = {"seq": 2, "at": "x", "action": "forged", "prev_hash": rows[0]["hash"]}
    forged["hash"] = chain.entry_hash(forged, rows[0]["hash"])
    assert chain.verify([rows[0], forged, rows[1], rows[2]]) == Problem(
        2, "inserted", "an entry was inserted before entry 2"
    )
    genesis_again = {"seq": 2, "at": "x", "action": "forged", "prev_hash": GENESIS}
    genesis_again["hash"] = chain.entry_hash(genesis_again, GENESIS)
    assert chain.verify([rows[0], genesis_again]) == Problem(
        2, "inserted", "an entry was inserted before entry 2"
    )


def test_an_entry_out_of_sequence():
    rows = relink([{**r, "seq": r["seq"] + (1 if r["seq"] == 3 else 0)} for r in build(3)], 2)
    assert chain.verify(rows) == Problem(4, "inserted", "entry 4 is out of sequence: expected number 3")


def test_a_truncated_tail_and_a_tail_appended_outside_the_writer():
    rows = build(4)
    assert chain.verify(rows[:2], head=(4, rows[-1]["hash"])) == Problem(
        3, "deleted", "entries 3 to 4 were deleted from the end"
    )
    assert chain.verify(rows, head=(2, rows[1]["hash"])) == Problem(
        3, "inserted", "entries after 2 were appended outside the audit writer"
    )
    assert chain.verify(rows, head=(4, "f" * 64)) == Problem(
        5, "inserted", "entries after 4 were appended outside the audit writer"
    )


def test_the_ledger_hashes_its_own_fields():
    fields = ("seq", "mg")
    rows = [{"seq": 1, "mg": "5.00", "action": "not hashed"}]
    rows[0] |= {"prev_hash": GENESIS, "hash": chain.entry_hash(rows[0], GENESIS, fields)}
    assert chain.verify(rows, fields=fields) is None
    rows[0]["action"] = "changed"
    assert chain.verify(rows, fields=fields) is None
    rows[0]["mg"] = "50.00"
    assert chain.verify(rows, fields=fields).kind == "modified"
