"""The Schedule III controlled-substance ledger: every container received, every milligram drawn,
given, wasted, returned, moved, destroyed or lost, reconciled against the infusion record.

See docs/ledger.md.
"""
