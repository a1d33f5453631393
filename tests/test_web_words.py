"""Codes in the reader's words (issues 16 and 17 loose ends): the partner list, the contacts and
the groups name countries, groups, contact roles and languages, never their codes, in English
and in Thai; the audit log names every AuditAction in both languages; the acknowledgements page
and the action pages name items in the reader's language; a partner's page and the registry
lists read through the page cache and still show a CLI change at once. Through Starlette's
TestClient over the test project (tests/webfixtures.py)."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from conftest import Project
from starlette.testclient import TestClient
from webfixtures import SECRET, START, WebEnv, csrf_of, make_web, sign_in

from scheduler.links import LinkAction, LinkSigner
from scheduler.services.audit import AuditAction
from scheduler.web.i18n import EN, TH, label

SIGNER = LinkSigner(SECRET)
LEAP_SPELL = dt.date(2016, 2, 29)  # Leap City: silent since its signing (tests/data)


@pytest.fixture
def web(project: Project) -> WebEnv:
    return make_web(project)


def signed_in(web: WebEnv, email: str) -> tuple[TestClient, str]:
    client = web.client()
    return client, sign_in(client, email)


def cells(page: str, column: str) -> list[str]:
    """The text of every table cell of `column` (its data-label), entities decoded."""
    found = re.findall(rf'<td data-label="{re.escape(column)}"[^>]*>(.*?)</td>', page, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in found]


def tags(page: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r'<span class="tag">([^<]*)</span>', page)]


# -- countries, groups, roles and languages in words ----------------------------------------------
def test_the_partner_list_names_countries_and_groups_in_the_readers_language(
        web: WebEnv) -> None:
    english, _ = signed_in(web, "staff@example.org")
    thai, _ = signed_in(web, "thai@example.org")
    # English first, then Thai, then English again: the kept table is one per language.
    en_page = english.get("/partners").text
    th_page = thai.get("/partners").text
    assert english.get("/partners").text == en_page
    assert sorted(cells(en_page, "Country")) == ["China", "Japan", "South Korea"]
    assert sorted(cells(en_page, "Group")) == ["China", "Japan & Korea", "Japan & Korea"]
    assert sorted(cells(th_page, "ประเทศ")) == ["จีน", "ญี่ปุ่น", "เกาหลีใต้"]
    assert sorted(cells(th_page, "คณะทำงาน")) == ["จีน", "ญี่ปุ่นและเกาหลี", "ญี่ปุ่นและเกาหลี"]
    for page in (en_page, th_page):
        shown = cells(page, "Country") + cells(page, "ประเทศ") + cells(page, "Group") \
            + cells(page, "คณะทำงาน")
        assert not {"CN", "JP", "KR", "china", "japan-korea"} & set(shown)


def test_contacts_and_groups_show_roles_languages_and_countries_in_words(
        web: WebEnv) -> None:
    client, token = signed_in(web, "thai@example.org")
    added = client.post("/contacts/add", data={  # a head (SPEC "The way back"), in English
        "csrf": token, "id": "director", "name": "Director Prasert",
        "email": "director@example.org", "language": "en", "role": "head"})
    assert added.status_code == 303, added.text
    contacts = client.get("/contacts").text
    assert {"หัวหน้าคณะทำงาน", "สถานกงสุล", "กระทรวงการต่างประเทศ", "เจ้าหน้าที่",
            "ผู้บังคับบัญชา", "ไทย", "อังกฤษ"} == set(tags(contacts))
    groups = client.get("/groups").text
    assert "จีน" in groups and "ญี่ปุ่น, เกาหลีใต้" in groups
    assert not re.search(r"\b(CN|JP|KR)\b", groups.split('id="main"')[1])

    english, _ = signed_in(web, "staff@example.org")
    assert {"Group lead", "Consulate", "Ministry of Foreign Affairs", "Staff",
            "Head of office", "Thai", "English"} == set(tags(english.get("/contacts").text))
    assert "Japan, South Korea" in english.get("/groups").text


# -- the audit log names every action -------------------------------------------------------------
@pytest.mark.parametrize("action", list(AuditAction))
def test_every_audit_action_has_words_in_english_and_thai(action: AuditAction) -> None:
    key = f"action_{action.value}"
    assert key in EN and key in TH, f"{action.value} has no words"
    for lang in ("en", "th"):
        assert label(lang, "action", action.value) not in (action.value, "")
    assert TH[key] != EN[key]


def test_the_audit_log_shows_a_registry_edit_in_words(web: WebEnv) -> None:
    client, token = signed_in(web, "thai@example.org")
    client.post("/groups/china/edit", data={
        "csrf": token, "name": "China", "name_th": "จีน (ใหม่)", "lead": "cn-lead",
        "countries": "CN"})
    admin, _ = signed_in(web, "admin@example.org")
    assert "edited a working group" in cells(admin.get("/audit").text, "What")


# -- item names in the reader's language ---------------------------------------------------------
def leap_link(recipient: str, action: LinkAction = LinkAction.RECORD) -> str:
    return "/act/" + SIGNER.action_token(
        recipient=recipient, job="dormant-partners", item="leapcity", occurrence=LEAP_SPELL,
        action=action, issued=START - dt.timedelta(days=3))


def test_a_thai_reader_sees_the_thai_name_on_the_action_page(web: WebEnv) -> None:
    thai = web.client().get(leap_link("cn-lead@example.org"))  # a Thai contact
    assert '<html lang="th">' in thai.text and "เมืองอธิกสุรทิน" in thai.text
    assert "Leap City" not in thai.text.split('id="main"')[1]
    english = web.client().get(leap_link("jk-lead@example.org"))  # an English one
    assert "Leap City" in english.text and "เมืองอธิกสุรทิน" not in english.text


def test_acknowledgements_name_items_in_the_page_language_and_the_stored_name_when_gone(
        web: WebEnv) -> None:
    reader = web.client()
    link = leap_link("jk-lead@example.org", LinkAction.SNOOZE)
    page = reader.get(link)
    assert reader.post(link, data={"csrf": csrf_of(page.text)}).status_code == 303
    thai, _ = signed_in(web, "thai@example.org")
    english, _ = signed_in(web, "staff@example.org")
    assert cells(thai.get("/acknowledgements").text, "รายการ")[0].startswith("เมืองอธิกสุรทิน")
    assert cells(english.get("/acknowledgements").text, "Item")[0].startswith("Leap City")
    # The partner gone from the registry: the name stored when the reader acted.
    web.rows("DELETE FROM agreements WHERE partner_id = 'leapcity'")
    web.rows("DELETE FROM partners WHERE id = 'leapcity'")
    assert cells(thai.get("/acknowledgements").text, "รายการ")[0].startswith("Leap City")


# -- a partner's page and the lists through the page cache ---------------------------------------
def test_the_partner_page_and_lists_read_the_registry_once_and_show_a_cli_change_at_once(
        web: WebEnv) -> None:
    client, _ = signed_in(web, "viewer@example.org")
    cache = web.app.state.web.cache
    client.get("/partners/osaka")
    loads = cache.loads
    for _ in range(2):
        for path in ("/partners/osaka", "/partners/suwon", "/contacts", "/groups",
                     "/deadlines", "/meetings"):
            assert client.get(path).status_code == 200, path
    assert cache.loads == loads
    done = web.project.cli("activity", "add", "osaka", "--date", "2026-03-01", "--title",
                           "Consul's visit")
    assert done.exit_code == 0, done.output
    assert "Consul&#39;s visit" in client.get("/partners/osaka").text
    assert cache.loads == loads + 1


def test_a_kind_typed_in_thai_is_stored_as_its_code_and_shown_in_the_readers_words(
        web: WebEnv) -> None:
    """The activity form's Kind is free text; a suggested kind typed in Thai ("การประชุม",
    "อื่นๆ") is the same kind as its English code, on the web and on the command line."""
    client, token = signed_in(web, "thai@example.org")
    done = client.post("/partners/osaka/activities", data={
        "csrf": token, "date": "20/02/2569", "title": "ประชุมออนไลน์", "kind": "การประชุม"})
    assert done.status_code == 303
    assert web.project.cli("activity", "add", "osaka", "--date", "2026-02-21", "--title",
                           "Letter of thanks", "--kind", " อื่นๆ ").exit_code == 0
    rows = web.rows("SELECT title, kind FROM activities WHERE partner_id = 'osaka' "
                    "AND date >= '2026-02-20' ORDER BY date")
    assert rows == [("ประชุมออนไลน์", "meeting"), ("Letter of thanks", "other")]
    page = client.get("/partners/osaka").text
    assert {"การประชุม", "อื่น ๆ"} <= set(tags(page)) and "meeting" not in tags(page)
