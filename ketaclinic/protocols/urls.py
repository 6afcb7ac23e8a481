from __future__ import annotations

from django.urls import path

from ketaclinic.protocols import views

urlpatterns = [
    path("", views.protocols_list, name="protocols-list"),
    path("<int:protocol_id>/", views.protocols_detail, name="protocols-detail"),
    path("<int:protocol_id>/retire/", views.protocols_retire, name="protocols-retire"),
    path("templates/<slug:code>/", views.protocols_template, name="protocols-template"),
    path("copy/", views.protocols_copy, name="protocols-copy"),
    path("library/", views.library_view, name="protocols-library"),
    path("library/v/<int:library_id>/", views.library_view, name="protocols-library-version"),
    path("library/create/", views.library_create, name="protocols-library-create"),
    path("library/v/<int:library_id>/review/", views.library_review, name="protocols-library-review"),
    path("library/v/<int:library_id>/withdraw/", views.library_withdraw, name="protocols-library-withdraw"),
    path("library/entries/new/", views.library_entry, name="protocols-library-entry-new"),
    path("library/entries/<slug:key>/", views.library_entry, name="protocols-library-entry"),
    path("patients/<int:patient_id>/", views.patient_plans, name="protocols-patient-plans"),
    path("patients/<int:patient_id>/plans/new/", views.plan_new, name="protocols-plan-new"),
    path("plans/<int:plan_id>/", views.plan_detail, name="protocols-plan-detail"),
    path("plans/<int:plan_id>/sign/", views.plan_sign, name="protocols-plan-sign"),
    path("plans/<int:plan_id>/orders/new/", views.order_new, name="protocols-order-new"),
    path("plans/<int:plan_id>/orders/preview/", views.order_preview, name="protocols-order-preview"),
    path("orders/", views.orders_list, name="protocols-orders"),
    path("orders/<int:order_id>/", views.order_detail, name="protocols-order-detail"),
    path("orders/<int:order_id>/verify/", views.order_verify, name="protocols-order-verify"),
    path("orders/<int:order_id>/what-to-expect/", views.order_expect, name="protocols-order-expect"),
]
