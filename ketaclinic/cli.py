"""The `ketaclinic` command: serve the clinic, create the first admin, verify the audit chain and
the controlled-substance ledger, run the pharmacology engine, or pass anything else to Django's
management commands.

    ketaclinic serve [--demo] [--host 127.0.0.1] [--port 8000] [--no-worker]
    ketaclinic worker
    ketaclinic createadmin [--username U --clinic-name N --clinic-slug S --time-zone TZ]
    ketaclinic audit verify
    ketaclinic db roles [--app-role ketaclinic_app]
    ketaclinic ledger verify [--clinic SLUG]
    ketaclinic backup FILE | restore FILE --replace
    ketaclinic pk models | simulate ... | compare ...
    ketaclinic manage <django command> ...
"""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import sys
from pathlib import Path


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ketaclinic.settings")
    import django

    django.setup()


def _migrate_as_owner(owner_url: str, app_db: dict[str, object]) -> bool:
    """Two roles (docs/operations.md): the owner migrates and then brings the application's role's
    grants up to date (new tables get them, the audit tables stay append-only); serve then runs as
    the application's role, which could do neither."""
    import subprocess

    password = str(app_db.get("PASSWORD") or "")
    owner = os.environ | {"DATABASE_URL": owner_url, "KETACLINIC_APP_DB_PASSWORD": password}
    steps = (["manage", "migrate", "--no-input", "-v0"], ["db", "roles", "--app-role", str(app_db["USER"])])
    for step in steps:
        command = [sys.executable, "-m", "ketaclinic.cli", *step]
        done = subprocess.run(command, env=owner, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            print(
                f"ketaclinic: `ketaclinic {' '.join(step[:2])}` failed as the role of "
                f"KETACLINIC_MIGRATE_DATABASE_URL:\n{done.stderr.strip()}",
                file=sys.stderr,
            )
            return False
    return True


def cmd_serve(args: argparse.Namespace) -> int:
    _setup_django()
    from django.conf import settings
    from django.core.management import call_command

    from ketaclinic.accounts.models import User

    if (owner_url := os.environ.get("KETACLINIC_MIGRATE_DATABASE_URL")) and not _migrate_as_owner(
        owner_url, dict(settings.DATABASES["default"])
    ):
        return 2
    call_command("migrate", interactive=False, verbosity=0)
    db = settings.DATABASES["default"]
    where = (
        db["NAME"]
        if db["ENGINE"].endswith("sqlite3")
        else f"{db['ENGINE'].rsplit('.', 1)[-1]} {db.get('NAME')}"
    )
    print(f"ketaclinic: database ready ({where})")
    if not args.demo:
        from ketaclinic import production

        if found := production.problems(args.host):
            print(
                "ketaclinic: refusing to serve, the configuration is not safe for patients:", file=sys.stderr
            )
            for problem in found:
                print(f"  - {problem}", file=sys.stderr)
            print("  (docs/operations.md: running in production)", file=sys.stderr)
            return 2
    if args.demo:
        from ketaclinic import demo

        created = demo.seed()
        print("ketaclinic: demo clinic network " + ("created" if created else "already present"))
        print(demo.logins_text())
    elif not User.objects.exists():
        print(
            "ketaclinic: this installation has no users yet. Create the first admin with:\n"
            "    ketaclinic createadmin"
        )
    shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104
    url = f"http://{shown_host}:{args.port}/"

    import uvicorn

    from ketaclinic import worker

    # uvicorn shuts down on SIGTERM/SIGINT, then raises the signal again with the handler found
    # before it: ours turns that into an exception, so the worker is stopped on the way out.
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    child = None
    try:
        if args.worker:
            child = worker.start_child()
            print("ketaclinic: worker started (alert checks run with no page open)")
        else:
            print("ketaclinic: no worker (--no-worker): run `ketaclinic worker` for the alert checks")
        print(f"ketaclinic: serving on {url}  (Ctrl+C to stop)", flush=True)
        uvicorn.run(
            "ketaclinic.asgi:application",
            host=args.host,
            port=args.port,
            log_level="warning",
            proxy_headers=True,
            timeout_graceful_shutdown=5,
        )
    except _Stop:
        pass
    finally:
        if child is not None:
            # Bounded (worker.STOP_GRACE_SECONDS, then the worker's group is killed): not interrupted.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            worker.stop_child(child)
    print("ketaclinic: stopped", flush=True)
    return 0


class _Stop(Exception):
    """SIGTERM or SIGINT reached `serve`."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop(signum)


def cmd_worker(args: argparse.Namespace) -> int:
    _setup_django()
    from ketaclinic import worker

    return worker.run(parent_pid=args.parent_pid)


def cmd_createadmin(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.exceptions import ValidationError

    from ketaclinic.accounts.actions import create_first_admin

    def ask(value: str | None, prompt: str, default: str = "") -> str:
        if value:
            return value
        if not sys.stdin.isatty():
            if default:
                return default
            raise SystemExit(f"ketaclinic createadmin: {prompt} is required (pass it as an option)")
        answer = input(f"{prompt}{f' [{default}]' if default else ''}: ").strip()
        return answer or default

    username = ask(args.username, "Username")
    clinic_name = ask(args.clinic_name, "Clinic name")
    clinic_slug = ask(
        args.clinic_slug,
        "Clinic short name (letters, digits, dashes)",
        default=clinic_name.lower().replace(" ", "-"),
    )
    time_zone = ask(args.time_zone, "Clinic time zone", default="UTC")
    password = os.environ.get("KETACLINIC_ADMIN_PASSWORD", "")
    if not password:
        if not sys.stdin.isatty():
            raise SystemExit("ketaclinic createadmin: set KETACLINIC_ADMIN_PASSWORD or run it in a terminal")
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            print("ketaclinic createadmin: the passwords differ; nothing was created", file=sys.stderr)
            return 2
    try:
        user = create_first_admin(
            username=username,
            password=password,
            clinic_name=clinic_name,
            clinic_slug=clinic_slug,
            time_zone=time_zone,
        )
    except ValidationError as exc:
        for message in exc.messages:
            print(f"ketaclinic createadmin: {message}", file=sys.stderr)
        print("Nothing was created.", file=sys.stderr)
        return 2
    print(
        f"ketaclinic: created clinic admin {user.username!r} for {clinic_name}; sign in at /accounts/login/"
    )
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    _setup_django()
    from ketaclinic.audit.actions import verify_trail

    report = verify_trail()
    for note in report.notes:
        print(f"audit: note: {note}")
    if report.intact:
        unsealed = (
            f" ({report.unsealed} from before seals: chain and checkpoint only)" if report.unsealed else ""
        )
        print(
            f"audit trail intact: {report.entries} entries verified{unsealed}, sealed and matching the "
            f"checkpoint; {report.rows} clinical rows match their seals"
        )
        return 0
    for problem in report.problems:
        print(f"audit trail BROKEN ({problem.kind}): {problem.message}")
    if report.more_rows:
        print(f"audit trail BROKEN: and {report.more_rows} more rows that do not match their seals")
    return 1


def cmd_ledger(args: argparse.Namespace) -> int:
    _setup_django()
    from ketaclinic.accounts.models import Clinic
    from ketaclinic.ledger.verify import verify_all, verify_clinic

    if args.clinic:
        clinic = Clinic.objects.filter(slug=args.clinic).first()
        if clinic is None:
            print(f"ketaclinic ledger verify: no clinic {args.clinic!r}", file=sys.stderr)
            return 2
        count, findings = verify_clinic(clinic)
    else:
        count, findings = verify_all()
    if not findings:
        print(
            f"ledger intact: {count} entries verified; every container balance and session close-out "
            "matches its entries"
        )
        return 0
    for finding in findings:
        print(f"ledger BROKEN ({finding.clinic}): {finding.message}")
    return 1


def cmd_db_roles(args: argparse.Namespace) -> int:
    _setup_django()
    from ketaclinic.dbroles import RolesError, set_up

    password = os.environ.get("KETACLINIC_APP_DB_PASSWORD") or None
    try:
        statements = set_up(args.app_role, password)
    except RolesError as exc:
        print(f"ketaclinic db roles: {exc} Nothing was changed.", file=sys.stderr)
        return 2
    for statement in statements:
        print(f"  {statement}")
    print(
        f"ketaclinic: {args.app_role} may read and write the records but not alter the audit trail; "
        f"serve with DATABASE_URL naming {args.app_role} and KETACLINIC_MIGRATE_DATABASE_URL naming this role"
    )
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    _setup_django()
    from ketaclinic.backup import BackupError, backup

    try:
        chain = backup(args.file)
    except BackupError as exc:
        print(f"ketaclinic backup: {exc} Nothing was written.", file=sys.stderr)
        return 2
    print(f"ketaclinic: backup written to {args.file} ({chain})")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    if not args.replace:
        print(
            "ketaclinic restore: this replaces every record in the database with the backup's. "
            "Stop `serve` and `worker`, then run again with --replace.",
            file=sys.stderr,
        )
        return 2
    _setup_django()
    from ketaclinic.backup import BackupError, restore

    try:
        chain = restore(args.file)
    except BackupError as exc:
        print(f"ketaclinic restore: {exc} Nothing was changed.", file=sys.stderr)
        return 2
    print(f"ketaclinic: restored {args.file} ({chain})")
    if chain.kept_checkpoint:
        print(f"ketaclinic: the audit checkpoint of the replaced trail is kept at {chain.kept_checkpoint}")
    if not chain.anchored:
        print("ketaclinic: the restored audit trail does not verify; the checkpoint was left as it was")
    audit_status = cmd_audit(args)
    ledger_status = cmd_ledger(argparse.Namespace(clinic=None))
    return max(audit_status, ledger_status)


def cmd_manage(argv: list[str]) -> int:
    _setup_django()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["ketaclinic manage", *argv])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ketaclinic", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="apply migrations and serve the app (ASGI, uvicorn)")
    serve.add_argument("--demo", action="store_true", help="seed a demo clinic network and print its logins")
    serve.add_argument("--host", default=os.environ.get("KETACLINIC_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("KETACLINIC_PORT", "8000")))
    serve.add_argument(
        "--no-worker",
        dest="worker",
        action="store_false",
        help="do not start the background worker (run `ketaclinic worker` separately)",
    )
    serve.set_defaults(func=cmd_serve)

    work = sub.add_parser(
        "worker", help="run the background worker alone: alert checks and escalation with no page open"
    )
    # `serve` passes its pid: the worker stops when that process is gone, so it never lingers.
    work.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    work.set_defaults(func=cmd_worker)

    admin = sub.add_parser("createadmin", help="create a clinic and its first clinic admin")
    admin.add_argument("--username")
    admin.add_argument("--clinic-name")
    admin.add_argument("--clinic-slug")
    admin.add_argument("--time-zone")
    admin.set_defaults(func=cmd_createadmin)

    db = sub.add_parser("db", help="PostgreSQL roles")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    roles = db_sub.add_parser(
        "roles",
        help="as the owner: create the application's role, which cannot alter the audit trail "
        "(password from KETACLINIC_APP_DB_PASSWORD)",
    )
    roles.add_argument("--app-role", default="ketaclinic_app")
    roles.set_defaults(func=cmd_db_roles)

    audit = sub.add_parser("audit", help="audit trail tools")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser(
        "verify",
        help="check the hash chain, seals, checkpoint and every clinical row; exit 1 naming what is wrong",
    )
    verify.set_defaults(func=cmd_audit)

    ledger = sub.add_parser("ledger", help="controlled-substance ledger tools")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True)
    lverify = ledger_sub.add_parser(
        "verify", help="check each clinic's ledger chain and container balances; exit 1 naming what is wrong"
    )
    lverify.add_argument("--clinic", help="one clinic's slug (default: every clinic)")
    lverify.set_defaults(func=cmd_ledger)

    back = sub.add_parser("backup", help="write a consistent copy of the whole database to FILE")
    back.add_argument("file", type=Path)
    back.set_defaults(func=cmd_backup)
    rest = sub.add_parser(
        "restore",
        help="replace every record with a backup's, then migrate and verify the audit trail and ledger",
    )
    rest.add_argument("file", type=Path)
    rest.add_argument("--replace", action="store_true", help="confirm: every current record is replaced")
    rest.set_defaults(func=cmd_restore)

    sub.add_parser("pk", help="the pharmacology engine (ketaclinic pk --help)", add_help=False)
    sub.add_parser("manage", help="run a Django management command", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `pk` and `manage` own their whole argument list, so they bypass this parser.
    if argv[:1] == ["pk"]:
        from ketaclinic.pkpd.cli import main as pk_main

        return pk_main(argv[1:])
    if argv[:1] == ["manage"]:
        return cmd_manage(argv[1:])
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
