"""API helpers: a token per persona and a client that sends it."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from ketaclinic.accounts import actions
from ketaclinic.accounts.models import Membership


class ApiClient:
    """A test client that sends a bearer token and JSON bodies."""

    def __init__(self, raw: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {raw}"} if raw else {}

    def _call(self, method: str, path: str, body=None, **extra):
        kwargs = {"headers": self.headers | extra.pop("headers", {})}
        if body is not None:
            kwargs |= {"data": json.dumps(body, default=str), "content_type": "application/json"}
        return getattr(self.client, method)(path, **kwargs, **extra)

    def get(self, path, **extra):
        return self.client.get(path, extra.pop("params", None), headers=self.headers, **extra)

    def post(self, path, body=None, **extra):
        return self._call("post", path, body if body is not None else {}, **extra)

    def patch(self, path, body=None, **extra):
        return self._call("patch", path, body if body is not None else {}, **extra)


def token_for(user, name="tests"):
    _, raw = actions.create_token(Membership.objects.get(user=user), name)
    return raw


@pytest.fixture
def api_as():
    """api_as(user) -> an ApiClient authenticated with a fresh token of that user's membership."""

    def _api(user):
        return ApiClient(token_for(user) if user is not None else None)

    return _api


def error_fields(response) -> dict[str, str]:
    """{field: message} from a 422 body."""
    out = {}
    for item in response.json()["detail"]:
        loc = [str(p) for p in item["loc"] if p not in ("body", "payload", "query", "filters")]
        out[".".join(loc) or "__all__"] = item["msg"]
    return out
