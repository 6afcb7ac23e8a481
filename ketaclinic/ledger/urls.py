from __future__ import annotations

from django.urls import path

from ketaclinic.ledger import views

urlpatterns = [
    path("", views.home, name="ledger-home"),
    path("setup/", views.setup, name="ledger-setup"),
    path("setup/save/", views.setup_save, name="ledger-setup-save"),
    path("receive/", views.receive, name="ledger-receive"),
    path("receipts/<int:receipt_id>/", views.receipt_detail, name="ledger-receipt"),
    path("receipts/<int:receipt_id>/release/", views.receipt_release, name="ledger-receipt-release"),
    path("containers/", views.container_list, name="ledger-containers"),
    path("containers/<int:container_id>/", views.container_detail, name="ledger-container"),
    path(
        "containers/<int:container_id>/transfer/", views.container_transfer, name="ledger-container-transfer"
    ),
    path("containers/<int:container_id>/destroy/", views.container_destroy, name="ledger-container-destroy"),
    path(
        "containers/<int:container_id>/reverse-distributor/",
        views.container_reverse_distributor,
        name="ledger-container-reverse-distributor",
    ),
    path("containers/<int:container_id>/adjust/", views.container_adjust, name="ledger-container-adjust"),
    path("containers/<int:container_id>/loss/", views.container_loss, name="ledger-container-loss"),
    path("sessions/<int:session_id>/", views.session_drug, name="ledger-session"),
    path("sessions/<int:session_id>/draw/", views.session_draw, name="ledger-session-draw"),
    path("sessions/<int:session_id>/close-out/", views.session_close_out, name="ledger-session-close-out"),
    path("entries/<int:entry_id>/correct/", views.entry_correct, name="ledger-entry-correct"),
    path("counts/", views.count_list, name="ledger-counts"),
    path("counts/new/", views.count_new, name="ledger-count-new"),
    path("discrepancies/", views.discrepancy_list, name="ledger-discrepancies"),
    path("discrepancies/<int:discrepancy_id>/", views.discrepancy_detail, name="ledger-discrepancy"),
    path("discrepancies/<int:discrepancy_id>/act/", views.discrepancy_act, name="ledger-discrepancy-act"),
    path("losses/", views.loss_list, name="ledger-losses"),
    path("losses/new/", views.loss_new, name="ledger-loss-new"),
    path("losses/<int:report_id>/filing/", views.loss_filing, name="ledger-loss-filing"),
    path("signals/", views.signals, name="ledger-signals"),
]
