"""The audit trail against whoever can write the database (issue #13).

Each test tampers the way the attack on the demo did, with SQL straight at the tables (on
PostgreSQL with the triggers switched off, as the tables' owner could), and ``audit verify`` names
what was done. The seals need the audit key, which the database does not hold; the checkpoint is a
file outside it; every clinical row is sealed as the application last wrote it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json

import pytest
from django.db import DatabaseError, connection, transaction

from ketaclinic.audit import chain, seal
from ketaclinic.audit.actions import record, verify_trail
from ketaclinic.audit.models import AuditEntry, AuditHead, RowSeal


@contextlib.contextmanager
def as_owner():
    """SQL as the tables' owner: on PostgreSQL, the triggers off for the length of the block."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Django's foreign keys are checked at commit; ALTER TABLE wants none pending.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")
            cursor.execute("ALTER TABLE audit_audithead DISABLE TRIGGER USER")
        yield cursor
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER USER")
            cursor.execute("ALTER TABLE audit_audithead ENABLE TRIGGER USER")


@pytest.fixture
def trail(clinic_a, nurse, patient, django_capture_on_commit_callbacks):
    """Five committed entries (the checkpoint advanced after each commit)."""
    for i in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            record("test.action", user=nurse, clinic=clinic_a, detail={"i": i})
    return AuditEntry.objects.order_by("seq")


def kinds(report):
    return [p.kind for p in report.problems]


def test_an_untouched_trail_verifies_with_its_rows(trail, patient, settings):
    report = verify_trail()
    assert report.intact, report.problems
    assert (report.entries, report.unsealed) == (5, 0)
    assert report.rows >= 1  # the patient
    # The checkpoint names the newest entry and the trail's first, sealed with the key.
    point = json.loads(settings.AUDIT_CHECKPOINT.read_text())
    assert (point["seq"], point["hash"]) == (5, trail.last().hash)
    assert point["first_hash"] == trail.first().hash


def test_each_entry_is_sealed_with_hmac_sha256_of_its_hash(trail, settings):
    for entry in trail:
        expected = hmac.new(
            settings.AUDIT_KEY, b"ketaclinic audit entry\n" + entry.hash.encode(), hashlib.sha256
        ).hexdigest()
        assert entry.seal == expected


def test_deleting_the_newest_entries_and_moving_the_head_back_shows(trail):
    third = trail.get(seq=3)
    with as_owner() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE seq > 3")
        cursor.execute("UPDATE audit_audithead SET seq = 3, hash = %s", [third.hash])
    report = verify_trail()
    assert kinds(report) == ["deleted"]
    assert "entries up to 5 were checkpointed, but the trail ends before 5" in report.problems[0].message


def test_a_backdated_entry_appended_with_a_recomputed_hash_shows(trail, clinic_a):
    last = trail.last()
    forged = {
        **last.chain_fields(),
        "seq": 6,
        "action": "ledger.waste",
        "at": "2020-01-01T00:00:00+00:00",
        "user_id": None,
        "object_type": "",
        "object_id": "",
        "patient_id": None,
        "client_addr": "",
    }
    forged["hash"] = chain.entry_hash(forged, last.hash)
    with as_owner() as cursor:
        for stolen_seal in ("", last.seal):  # no seal, then a seal copied from a real entry
            cursor.execute("DELETE FROM audit_auditentry WHERE seq = 6")
            cursor.execute(
                "INSERT INTO audit_auditentry (seq, at, username, clinic_id, action, object_type,"
                " object_id, detail, client_addr, prev_hash, hash, seal)"
                " VALUES (6, %s, %s, %s, %s, '', '', %s, '', %s, %s, %s)",
                [
                    forged["at"],
                    forged["username"],
                    clinic_a.pk,
                    forged["action"],
                    json.dumps(forged["detail"]),
                    last.hash,
                    forged["hash"],
                    stolen_seal,
                ],
            )
            cursor.execute("UPDATE audit_audithead SET seq = 6, hash = %s", [forged["hash"]])
            entry = AuditEntry.objects.get(seq=6)
            assert chain.entry_hash(entry.chain_fields(), last.hash) == entry.hash  # the chain alone passes
            report = verify_trail()
            assert kinds(report) == ["forged"], report.problems
            assert report.problems[0].message.startswith("entry 6 ")


def test_rewriting_the_chain_from_an_entry_on_shows(trail):
    prev = trail.get(seq=2).hash
    with as_owner() as cursor:
        for entry in trail.filter(seq__gte=3):
            fields = {**entry.chain_fields(), "detail": {"i": -1}}
            digest = chain.entry_hash(fields, prev)
            cursor.execute(
                "UPDATE audit_auditentry SET detail = %s, prev_hash = %s, hash = %s WHERE seq = %s",
                [json.dumps({"i": -1}), prev, digest, entry.seq],
            )
            prev = digest
        cursor.execute("UPDATE audit_audithead SET hash = %s", [prev])
    report = verify_trail()
    assert (
        "forged" in kinds(report)
        and "entry 3 does not carry the audit key's seal" in report.problems[0].message
    )
    assert "rewritten" in kinds(report)  # and the checkpoint's entry 5 is not the stored one


def test_deleting_every_entry_shows(trail):
    with as_owner() as cursor:
        cursor.execute("DELETE FROM audit_auditentry")
        cursor.execute("DELETE FROM audit_audithead")
    report = verify_trail()
    assert kinds(report) == ["replaced"]
    assert "the checkpoint names 5 entries" in report.problems[0].message


def test_a_fresh_trail_in_place_of_the_old_one_shows(trail, clinic_a, nurse):
    with as_owner() as cursor:
        cursor.execute("DELETE FROM audit_auditentry")
        cursor.execute("DELETE FROM audit_audithead")
    for i in range(6):  # the application's own writer, on a fresh trail longer than the old one
        record("test.action", user=nurse, clinic=clinic_a, detail={"i": i})
    assert kinds(verify_trail()) == ["replaced"]


def test_an_altered_or_missing_checkpoint(trail, settings):
    path = settings.AUDIT_CHECKPOINT
    point = json.loads(path.read_text())
    path.write_text(json.dumps({**point, "seq": 3}))
    report = verify_trail()
    assert (
        kinds(report) == ["checkpoint"]
        and "does not carry the audit key's seal" in report.problems[0].message
    )
    path.write_text("{not json")
    assert kinds(verify_trail()) == ["checkpoint"]
    path.unlink()
    report = verify_trail()
    assert report.intact and report.notes == [f"no checkpoint at {path} yet: the next write starts one"]


def test_another_key_does_not_verify_the_trail(trail, settings):
    settings.AUDIT_KEY = b"another key"
    found = kinds(verify_trail())
    assert found[:2] == ["forged", "checkpoint"]
    assert found[2:] and set(found[2:]) == {"row changed"}


def test_entries_from_before_seals_are_counted_but_cannot_follow_sealed_ones(trail):
    with as_owner() as cursor:
        cursor.execute("UPDATE audit_auditentry SET seal = '' WHERE seq <= 2")
    report = verify_trail()
    assert report.intact and report.unsealed == 2
    with as_owner() as cursor:
        cursor.execute("UPDATE audit_auditentry SET seal = '' WHERE seq = 4")
    assert kinds(verify_trail()) == ["forged"]


def test_a_clinical_row_edited_inserted_or_deleted_in_the_database_shows(trail, patient, nurse):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE patients_patient SET escort_phone = '555-9999' WHERE id = %s", [patient.pk])
    [finding] = verify_trail().problems
    assert finding.kind == "row changed"
    assert finding.message == (
        f"patients.patient {patient.pk} was changed outside the application: it no longer matches its seal"
    )

    # Put back as it was, the row matches again: the seal is of the stored values.
    patient.save()
    assert verify_trail().intact

    from ketaclinic.patients.models import Patient

    Patient.objects.filter(pk=patient.pk).update(escort_name="someone else")  # no save(): no seal
    assert kinds(verify_trail()) == ["row changed"]
    RowSeal.objects.filter(object_type="patients.patient").delete()
    assert kinds(verify_trail()) == ["row inserted"]

    patient.save()
    weight = a_weight(patient, nurse)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM patients_weightmeasurement WHERE id = %s", [weight.pk])
    assert [(p.kind, p.message) for p in verify_trail().problems] == [
        ("row deleted", f"patients.weightmeasurement {weight.pk} was deleted outside the application")
    ]


def a_weight(patient, nurse):
    from django.utils import timezone

    from ketaclinic.patients.models import WeightMeasurement

    return WeightMeasurement.objects.create(
        patient=patient,
        measured_at=timezone.now(),
        weight_kg="70.5",
        entered_value="70.5",
        entered_unit="kg",
        recorded_by=nurse,
    )


def test_a_row_deleted_by_the_application_leaves_no_seal(trail, patient, nurse):
    weight = a_weight(patient, nurse)
    assert RowSeal.objects.filter(object_type="patients.weightmeasurement", object_id=str(weight.pk)).exists()
    weight.delete()
    assert not RowSeal.objects.filter(
        object_type="patients.weightmeasurement", object_id=str(weight.pk)
    ).exists()
    assert verify_trail().intact


def test_the_checkpoint_never_goes_back_and_keeps_to_its_trail(tmp_path):
    path, key = tmp_path / "cp.json", b"k"
    assert seal.advance_checkpoint(path, key, seal.Checkpoint(5, "h5", "h1", "t"))
    assert not seal.advance_checkpoint(path, key, seal.Checkpoint(4, "h4", "h1", "t"))  # a late commit
    assert not seal.advance_checkpoint(path, key, seal.Checkpoint(5, "h5", "h1", "t"))
    assert not seal.advance_checkpoint(path, key, seal.Checkpoint(9, "x9", "x1", "t"))  # another trail
    assert seal.read_checkpoint(path).seq == 5
    assert seal.advance_checkpoint(path, key, seal.Checkpoint(6, "h6", "h1", "t"))
    point = seal.read_checkpoint(path)
    assert (point.seq, point.is_sealed_by(key), point.is_sealed_by(b"other")) == (6, True, False)


def test_a_rolled_back_write_leaves_the_checkpoint_where_it_was(
    trail, clinic_a, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with contextlib.suppress(RuntimeError), transaction.atomic():
            record("test.action", clinic=clinic_a)
            raise RuntimeError
    assert callbacks == []
    assert json.loads(settings.AUDIT_CHECKPOINT.read_text())["seq"] == 5
    # Two entries in one transaction: one write, of the newer.
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        record("test.one", clinic=clinic_a)
        record("test.two", clinic=clinic_a)
    assert json.loads(settings.AUDIT_CHECKPOINT.read_text())["seq"] == 7
    assert verify_trail().intact


INSERT = (
    "INSERT INTO audit_auditentry (seq, at, username, action, object_type, object_id, detail,"
    " client_addr, prev_hash, hash, seal) VALUES ({seq}, now(), '', 'x', '', '', '{{}}', '', %s, 'f', '')"
)


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_postgres_refuses_an_append_that_does_not_follow_the_head_and_a_head_moved_back(trail, clinic_a):
    last = trail.last()
    statements = [
        (INSERT.format(seq=9), [last.hash]),  # skips entries
        (INSERT.format(seq=6), [chain.GENESIS]),  # does not follow the head
        ("UPDATE audit_audithead SET seq = 3, hash = %s", [trail.get(seq=3).hash]),
        ("UPDATE audit_audithead SET seq = 6, hash = 'nothing'", []),
        ("DELETE FROM audit_audithead", []),
    ]
    for sql, params in statements:
        with pytest.raises(DatabaseError, match="append-only|forward only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
    assert AuditHead.objects.get().seq == 5
    assert verify_trail().intact


def test_the_checkpoint_file_is_owner_only_and_written_whole(tmp_path):
    path = tmp_path / "cp.json"
    seal.advance_checkpoint(path, b"k", seal.Checkpoint(1, "h1", "h1", "t"))
    assert path.stat().st_mode & 0o777 == 0o600
    point = seal.read_checkpoint(path)
    expected = {"at": "t", "first_hash": "h1", "hash": "h1", "seal": point.seal, "seq": 1}
    assert path.read_text() == json.dumps(expected, sort_keys=True) + "\n"
    assert sorted(tmp_path.iterdir()) == [path, tmp_path / "cp.json.lock"]  # no temporary file left


def test_a_checkpoint_that_does_not_read_is_reported_not_overwritten(tmp_path):
    path = tmp_path / "cp.json"
    path.write_text('{"seq": "five"}')
    assert not seal.advance_checkpoint(path, b"k", seal.Checkpoint(6, "h6", "h1", "t"))
    assert path.read_text() == '{"seq": "five"}'
    with pytest.raises(seal.CheckpointError, match=f"^{path} is not an audit checkpoint"):
        seal.read_checkpoint(path)


def test_a_restore_starts_the_checkpoint_afresh_and_keeps_the_old_one(tmp_path):
    path = tmp_path / "cp.json"
    assert seal.replace_checkpoint(path, b"k", seal.Checkpoint(2, "h2", "h1", "t"), "s1") is None
    assert seal.read_checkpoint(path).seq == 2 and seal.read_checkpoint(path).is_sealed_by(b"k")
    old = path.read_text()
    kept = seal.replace_checkpoint(path, b"k", seal.Checkpoint(9, "x9", "x1", "t"), "s2")
    assert kept == tmp_path / "cp.json.before-s2" and kept.read_text() == old
    assert seal.read_checkpoint(path).seq == 9
    # An empty restored trail: the old checkpoint is kept aside and the next write starts one.
    kept = seal.replace_checkpoint(path, b"k", None, "s3")
    assert kept == tmp_path / "cp.json.before-s3" and not path.exists()


def test_reanchoring_after_a_restore_needs_a_trail_that_verifies(trail, settings):
    from ketaclinic.audit.actions import reanchor_checkpoint

    settings.AUDIT_CHECKPOINT.write_text(
        settings.AUDIT_CHECKPOINT.read_text().replace('"seq": 5', '"seq": 50')
    )
    before = settings.AUDIT_CHECKPOINT.read_text()
    with as_owner() as cursor:
        cursor.execute("UPDATE audit_auditentry SET action = 'x' WHERE seq = 2")
    assert reanchor_checkpoint() == (False, None)
    assert settings.AUDIT_CHECKPOINT.read_text() == before
    with as_owner() as cursor:
        cursor.execute("UPDATE audit_auditentry SET action = 'test.action' WHERE seq = 2")
    anchored, kept = reanchor_checkpoint()
    assert anchored and kept.read_text() == before
    point = seal.read_checkpoint(settings.AUDIT_CHECKPOINT)
    assert (point.seq, point.hash, point.first_hash) == (5, trail.last().hash, trail.first().hash)
    assert verify_trail().intact


def test_a_row_seal_covers_the_named_columns_in_order():
    assert seal.row_payload(["b", "a"], {"a": 1, "b": "x", "c": 3}) == '[["b","x"],["a",1]]'
    one = seal.row_seal(b"k", "patients.patient", "1", ["a"], {"a": 1})
    assert one == seal._mac(b"k", "ketaclinic row", 'patients.patient\n1\n[["a",1]]')
    assert one != seal.row_seal(b"k", "patients.patient", "2", ["a"], {"a": 1})
    assert one != seal.row_seal(b"k", "patients.intake", "1", ["a"], {"a": 1})


def test_row_findings_name_the_row_and_count_past_the_first_twenty(trail, patient, nurse):
    from ketaclinic.audit import rows

    weights = [a_weight(patient, nurse) for _ in range(rows.NAMED + 2)]
    checked, named, total = rows.verify_rows()
    assert (named, total) == ([], 0)
    assert checked == sum(model._base_manager.count() for model in rows.sealed_models())
    assert checked == RowSeal.objects.count()

    with connection.cursor() as cursor:
        cursor.execute("UPDATE patients_weightmeasurement SET weight_kg = 1")
    checked_again, named, total = rows.verify_rows()
    assert checked_again == checked and total == rows.NAMED + 2 and len(named) == rows.NAMED
    assert [(f.object_type, f.object_id, f.kind) for f in named[:2]] == [
        ("patients.weightmeasurement", str(weights[0].pk), "changed"),
        ("patients.weightmeasurement", str(weights[1].pk), "changed"),
    ]
    report = verify_trail()
    assert len(report.problems) == rows.NAMED and report.more_rows == 2


def test_a_seal_of_columns_since_dropped_is_named_as_such(trail, patient):
    RowSeal.objects.filter(object_type="patients.patient").update(fields="id,a_column_since_dropped")
    [finding] = verify_trail().problems
    assert (finding.kind, finding.message) == (
        "row resealed",
        f"patients.patient {patient.pk} was sealed with columns that no longer exist",
    )
