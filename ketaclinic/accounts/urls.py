from __future__ import annotations

from django.urls import path

from ketaclinic.accounts import views

urlpatterns = [
    path("login/", views.login_view, name="accounts-login"),
    path("logout/", views.logout_view, name="accounts-logout"),
    path("clinic/", views.choose_clinic, name="accounts-choose-clinic"),
]
