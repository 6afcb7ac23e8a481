from __future__ import annotations

import pytest

from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD


@pytest.mark.django_db(transaction=True)
def test_wrong_password_is_refused_and_right_one_signs_in(page, nurse):
    sign_in(page, "nate", "not the password")
    assert page.get_by_role("alert").inner_text() == (
        "That username and password do not match, or sign-in is paused after repeated failures: "
        "try again in 15 minutes or ask a clinic admin."
    )
    sign_in(page, "nate", PASSWORD)
    assert page.get_by_role("button", name="Sign out").is_visible()
    assert "Northside" in page.locator(".who").inner_text()
