from __future__ import annotations

from django.urls import path

from ketaclinic.infusions import views

urlpatterns = [
    path("floor/stream/", views.floor_stream, name="infusions-floor-stream"),
    path("<int:session_id>/stream/", views.session_stream, name="infusions-stream"),
]
