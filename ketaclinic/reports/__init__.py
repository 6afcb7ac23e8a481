"""Cross-app pages: the audit browser and the limits report. They read several domain apps and
write nothing but their own audit entries, so they sit above the domain apps and below the wiring."""
