from __future__ import annotations

from django.urls import path

from ketaclinic.infusions import views

urlpatterns = [
    path("", views.session_list, name="infusions-list"),
    path("schedule/", views.schedule, name="infusions-schedule"),
    path("floor/", views.floor, name="infusions-floor"),
    path("floor/stream/", views.floor_stream, name="infusions-floor-stream"),
    path("<int:session_id>/", views.chair, name="infusions-chair"),
    path("<int:session_id>/chart/", views.chart, name="infusions-chart"),
    path("<int:session_id>/observe/", views.observe, name="infusions-observe"),
    path("<int:session_id>/dose/", views.dose, name="infusions-dose"),
    path("<int:session_id>/move/", views.move, name="infusions-move"),
    path("<int:session_id>/setup/", views.setup, name="infusions-setup"),
    path("<int:session_id>/record/", views.session_record, name="infusions-record"),
    path("<int:session_id>/rems/", views.rems_view, name="infusions-rems"),
    path("<int:session_id>/stream/", views.session_stream, name="infusions-stream"),
    path("alerts/<int:alert_id>/acknowledge/", views.acknowledge, name="infusions-acknowledge"),
    path("observations/<int:observation_id>/correct/", views.correct, name="infusions-correct"),
    path("observations/<int:observation_id>/withdraw/", views.withdraw, name="infusions-withdraw"),
    path("doses/<int:dosing_event_id>/correct/", views.correct_dose, name="infusions-correct-dose"),
]
