from __future__ import annotations

from django.urls import path

from ketaclinic.accounts import views

urlpatterns = [
    path("login/", views.login_view, name="accounts-login"),
    path("logout/", views.logout_view, name="accounts-logout"),
    path("keepalive/", views.keepalive, name="accounts-keepalive"),
    path("clinic/", views.choose_clinic, name="accounts-choose-clinic"),
    path("users/", views.users, name="accounts-users"),
    path("users/add/", views.user_add, name="accounts-user-add"),
    path("users/<int:member_id>/", views.user_edit, name="accounts-user-edit"),
    path("password/", views.password_change, name="accounts-password"),
    path("tokens/", views.tokens, name="accounts-tokens"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke, name="accounts-token-revoke"),
]
