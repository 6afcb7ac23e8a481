from __future__ import annotations

from django.urls import include, path

from ketaclinic.accounts import views as account_views
from ketaclinic.api import api

urlpatterns = [
    path("", account_views.home, name="home"),
    path("healthz", account_views.healthz, name="healthz"),
    path("accounts/", include("ketaclinic.accounts.urls")),
    path("patients/", include("ketaclinic.patients.urls")),
    path("protocols/", include("ketaclinic.protocols.urls")),
    path("infusions/", include("ketaclinic.infusions.urls")),
    path("ledger/", include("ketaclinic.ledger.urls")),
    path("", include("ketaclinic.reports.urls")),
    path("api/", api.urls),
]

handler403 = "ketaclinic.accounts.views.permission_denied"
