"""The registry's forms in a real browser (Debian's Chromium driven by Playwright, the app served
by uvicorn; see tests/test_web_browser.py for how, and why they skip without Chromium): a
contact edited through its form, a refusal naming the field, and every form page at phone
width with a visible label for each field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_web_browser import browser, page, served, sign_in, sync_api, web
from webfixtures import WebEnv

__all__ = ["browser", "page", "served", "web"]  # fixtures shared with test_web_browser.py

FORMS = ("/contacts", "/contacts/add", "/contacts/jp-consulate/edit", "/groups",
         "/groups/add", "/groups/china/edit", "/deadlines", "/deadlines/add",
         "/deadlines/china-visit/edit", "/meetings", "/meetings/summary/edit")


def test_staff_edit_a_contact_through_its_form(web: WebEnv, page: Any) -> None:
    sign_in(page, "staff@example.org")
    page.get_by_role("link", name="Contacts").click()
    page.get_by_role("link", name="Edit Consulate-General of Japan").click()
    sync_api.expect(page.get_by_role("heading", name="Edit contact")).to_be_visible()
    email = page.get_by_label("Email")
    sync_api.expect(email).to_have_value("jp-consulate@example.org")
    email.fill("consul@jp")
    page.get_by_role("button", name="Save").click()
    sync_api.expect(page.get_by_role("alert")).to_contain_text(
        'Email: "consul@jp" is not an email address')
    sync_api.expect(page.get_by_label("Email")).to_have_value("consul@jp")
    assert web.rows("SELECT email FROM contacts WHERE id = 'jp-consulate'") == [
        ("jp-consulate@example.org",)]
    page.get_by_label("Email").fill("consul.jp@example.org")
    page.get_by_label("Language").select_option("th")
    page.get_by_role("button", name="Save").click()
    sync_api.expect(page.get_by_role("status")).to_have_text("Saved.")
    item = page.locator("#item-jp-consulate")
    sync_api.expect(item).to_contain_text("consul.jp@example.org")
    sync_api.expect(item).to_contain_text("Thai")
    shown = json.loads(web.project.cli("show", "osaka", "--json", "--as-of",
                                       "2026-03-02").output)
    assert "consul.jp@example.org" in json.dumps(shown)
    page.get_by_role("link", name="Audit log").first.click()
    sync_api.expect(page.get_by_role("main")).to_contain_text("edited a contact")
    sync_api.expect(page.get_by_role("main")).to_contain_text("staff@example.org")


@pytest.mark.parametrize("email", ["staff@example.org", "thai@example.org"])
def test_every_form_fits_a_375_px_phone_with_a_label_per_field(page: Any, email: str) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    sign_in(page, email)
    for path in FORMS:
        response = page.goto(path)
        assert response.status == 200, path
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} is {width} px wide at 375 px"
        for field in page.locator("input:not([type=hidden]), select, textarea").all():
            field_id = field.get_attribute("id")
            label = page.locator(f'label[for="{field_id}"]')
            assert field_id and label.count() == 1, (path, field_id)
            # a field shown has its label shown (a collapsed <details> hides both)
            assert label.is_visible() or not field.is_visible(), (path, field_id)
        for button in page.locator("button").all():
            assert (button.text_content() or "").strip(), path
