"""The limits report never 500s on a date (issue 13's list): a 400 that says what was wrong."""

from __future__ import annotations

from django.urls import reverse


def test_the_limits_report_says_what_is_wrong_with_a_date_and_never_500s(login, clinic_admin):
    # The dates an attack found to 500 (issue 13): each is now a 400 that says so, page and CSV.
    for query in ("from=2025-02-30", "from=2025-13-01", "from=0000-00-00", "to=9999-12-31"):
        page = login(clinic_admin).get(reverse("protocols-limits-report") + "?" + query)
        assert page.status_code == 400 and b'role="alert"' in page.content, query
        csv = login(clinic_admin).get(reverse("protocols-limits-report") + "?format=csv&" + query)
        assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv"), query
