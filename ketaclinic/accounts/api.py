"""The caller's own account over the JSON API."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from ketaclinic.accounts.access import PERMISSIONS, has_permission
from ketaclinic.accounts.api_access import api_access, current_membership

router = Router(tags=["account"])


class Me(Schema):
    username: str
    display_name: str
    clinic: str
    clinic_slug: str
    time_zone: str
    role: str
    permissions: list[str]


@router.get("/me", response=Me, summary="Who am I: user, clinic, role and permissions")
@api_access("clinic.home")
def me(request: HttpRequest) -> Any:
    m = current_membership(request)
    return {
        "username": m.user.username,
        "display_name": m.user.display_name,
        "clinic": m.clinic.name,
        "clinic_slug": m.clinic.slug,
        "time_zone": m.clinic.time_zone,
        "role": m.role,
        "permissions": sorted(p for p in PERMISSIONS if has_permission(m, p)),
    }
