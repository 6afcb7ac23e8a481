from __future__ import annotations

from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ketaclinic.ledger"
    label = "ledger"
    verbose_name = "Controlled-substance ledger"

    def ready(self) -> None:
        # A session is not discharged while the drug drawn for it is unaccounted for. The rule
        # lives here (the ledger knows drug); infusions asks every registered check at discharge.
        from ketaclinic.infusions import closeout
        from ketaclinic.ledger.queries import closeout_problems

        closeout.register(closeout_problems)
