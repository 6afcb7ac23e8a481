"""Refuse to serve patients from an insecure configuration.

``ketaclinic serve`` without ``--demo`` is a clinic's production server: before it listens, these
checks run, and any problem stops it with a message that says how to fix it (``docs/operations.md``).
``--demo`` is a local trial and skips them.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings

from ketaclinic import dbroles

# Django's own check (security.W009) asks for 50 characters and 5 different ones.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE = 5


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def problems(host: str) -> list[str]:
    """What is insecure about serving on ``host`` with the current settings (empty: nothing)."""
    found = []
    if settings.DEBUG:
        found.append(
            "KETACLINIC_DEBUG is on: error pages would show code, settings and patient data to "
            "anyone. Unset it; debug pages are for development only."
        )
    key = settings.SECRET_KEY
    if len(key) < SECRET_KEY_MIN_LENGTH or len(set(key)) < SECRET_KEY_MIN_UNIQUE:
        found.append(
            f"KETACLINIC_SECRET_KEY is too weak ({len(key)} characters, {len(set(key))} different): "
            f"give at least {SECRET_KEY_MIN_LENGTH} random characters, for example the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`, or unset it to use "
            "the key generated in the data folder."
        )
    if not is_loopback(host) and not settings.SESSION_COOKIE_SECURE:
        found.append(
            f"Serving on {host} to the network over plain HTTP would send passwords and patient data "
            "in clear text. Put TLS in front (a reverse proxy such as Caddy or nginx) and set "
            "KETACLINIC_SECURE_COOKIES=true, or serve on 127.0.0.1 behind that proxy."
        )
    for weakness in dbroles.weaknesses():
        found.append(
            f"The database connection {weakness}: whoever holds the application could rewrite the "
            "audit trail. Run `ketaclinic db roles` as the owner and give serve the application's "
            "role in DATABASE_URL (migrations: KETACLINIC_MIGRATE_DATABASE_URL)."
        )
    if open_demo := demo_logins():
        found.append(
            f"This database holds the demo's accounts with the published demo password "
            f"({', '.join(open_demo)}). Serve it with `ketaclinic serve --demo` for a trial, or start "
            "production on a new data folder (KETACLINIC_DATA_DIR) or database (DATABASE_URL)."
        )
    return found


def demo_logins() -> list[str]:
    """Active demo accounts that still sign in with the demo password."""
    from ketaclinic import demo
    from ketaclinic.accounts.models import User
    from ketaclinic.accounts.passwords import DEMO_PASSWORD

    names = [f"{stem}.{slug[:5]}" for slug, _name, _tz in demo.CLINICS for stem, *_ in demo.STAFF]
    users = User.objects.filter(username__in=names, is_active=True).order_by("username")
    return [u.username for u in users if u.check_password(DEMO_PASSWORD)]
