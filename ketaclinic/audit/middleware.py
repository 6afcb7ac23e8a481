"""Binds the client address of each request for the audit trail (``audit.actions.client_addr``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from ketaclinic.audit.actions import _current_client, client_addr


class ClientAddressMiddleware:
    """For the length of a request, every audit entry records its client's address; actions are
    called with plain values and never see the request."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self._acall(request)
        token = _current_client.set(client_addr(request))
        try:
            return self.get_response(request)  # type: ignore[no-any-return]
        finally:
            _current_client.reset(token)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        token = _current_client.set(client_addr(request))
        try:
            return await self.get_response(request)  # type: ignore[no-any-return]
        finally:
            _current_client.reset(token)
