"""The web app's words in English and Thai (SPEC "The office web app": each user's choice).

`text(lang, key)` gives one; a key missing in Thai falls back to English, and an unknown key is
shown as itself (a visible, harmless mistake rather than a crash). Dates are formatted by
scheduler.dates.thaidate (Buddhist Era in Thai).
"""

from __future__ import annotations

import re
from functools import cache

from babel import Locale, UnknownLocaleError

from scheduler.registry.domain import ACTIVITY_KINDS

LANGUAGES = ("th", "en")

EN: dict[str, str] = {
    "app": "Sister cities",
    "email": "Email", "password": "Password", "sign_in": "Sign in", "sign_out": "Sign out",
    "signed_in_as": "Signed in as",
    "wrong_password": "Wrong email or password.",
    "too_many": "Too many failed sign-ins. Wait 15 minutes and try again.",
    "dashboard": "Dashboard", "partners": "Partners", "import": "Import", "export": "Export",
    "audit": "Audit log", "outbox": "Outbox", "jobs": "Jobs", "accounts": "Accounts",
    "contacts": "Contacts", "groups": "Working groups", "deadlines": "Budget deadlines",
    "meetings": "Meetings", "menu": "Menu",
    "next_90": "The next 90 days", "anniversaries": "Anniversaries",
    "act_by": "Act by", "due": "Due", "dormant": "Dormant partners", "none": "None.",
    "outbox_health": "Outbox", "pending": "pending", "failed": "failed", "sent": "sent",
    "sending": "sending", "all": "all",
    "years": "years", "quiet_since": "quiet since", "never": "never",
    "partner": "Partner", "country": "Country", "group": "Group", "agreements": "Agreements",
    "activities": "Activities", "last_activity": "Last activity", "route": "Contact route",
    "route_consulate": "through the consulate", "route_mfa": "through the MFA",
    "no_contact": "no contact", "ended_on": "Relation ended on",
    "date": "Date", "title": "Title", "kind": "Kind", "kind_hint": "optional: visit, "
    "meeting, event, exchange, letter, other", "record": "Record",
    "add_activity": "Add activity", "date_hint": "YYYY-MM-DD, or 15/11/2569",
    "remove": "Remove", "correct": "Correct", "save": "Save",
    "signed_on": "Signed on", "expires_on": "Expires on", "local_party": "Signed by",
    "notes": "Notes", "agreement_type": "Type of agreement",
    "next_anniversary": "Next anniversary", "id": "Id",
    "end_relation": "End the relation", "end_on": "Ended on", "reason": "Reason",
    "end": "End relation",
    "recorded": "Recorded.", "already_recorded": "Already recorded: nothing changed.",
    "removed": "Removed.", "corrected": "Corrected.", "nothing_changed": "Nothing changed.",
    "ended": "The relation is recorded as ended.",
    "problem": "Please correct this:", "forbidden": "You may not do this",
    "forbidden_text": "Your account may look but not change anything, or this form has "
    "expired: reload the page and try again.",
    "csrf_text": "This form has expired or did not come from this site. Nothing was changed: "
    "go back, reload the page and try again.",
    "not_found": "Not found", "back": "Back",
    "state": "State", "recipient": "Recipient", "subject": "Subject", "attempts": "Attempts",
    "last_error": "Last error", "job": "Job", "created": "Created", "message": "Message",
    "retry": "Retry", "retry_failed": "Retry all failed", "requeued": "Queued again:",
    "as_reader": "As the reader sees it", "plain_text": "Plain text",
    "run_now": "Run now", "preview": "Preview", "as_of": "As of", "as_of_hint":
    "YYYY-MM-DD; empty: today", "ran": "Ran", "would_send": "Would send",
    "notices": "notices", "messages": "messages", "language": "Language",
    "schedule": "Schedule", "last_run": "Last run",
    "spreadsheet_file": "Spreadsheet file", "upload": "Upload and check",
    "dry_run_report": "What the import would change", "confirm": "Confirm",
    "imported": "Imported.", "export_xlsx": "Download (Excel)", "export_csv": "Download (CSV)",
    "rows": "rows", "when": "When", "who": "Who", "what": "What", "target": "On",
    "details": "Details",
    "name": "Name", "role": "Role", "add_account": "Add account", "added": "Added.",
    "role_admin": "admin", "role_staff": "staff", "role_viewer": "viewer",
    "lead": "Lead", "countries": "Countries", "location": "Location", "next": "Next",
    "cancel_meeting": "Cancel meeting", "occurrence": "Occurrence date",
    "occurrence_hint": "the date of one occurrence; to cancel them all, tick the box below",
    "cancel_every": "Cancel every occurrence of this meeting",
    "cancel_which": "give the date of one occurrence, or tick “Cancel every occurrence of "
    "this meeting”. Nothing was cancelled.",
    "cancelled": "Cancelled: everyone invited gets a cancellation at the next run.",
    "is_cancelled": "cancelled",
    "field_required": "must not be empty", "pick_job": "Job",
    "other_lang": "ภาษาไทย", "other_lang_code": "th",
    "page": "Page", "of": "of", "previous": "Previous page", "next_page": "Next page",
    "more": "more",
    # --- registry forms (issue 16: contacts, groups, deadlines, meetings) ---
    "edit": "Edit", "add": "Add", "every_group": "every group",
    "view_only": "You may look at these lists; staff and admins edit them.",
    "new_contacts": "Add a contact", "new_groups": "Add a working group",
    "new_deadlines": "Add a budget deadline",
    "edit_contacts": "Edit contact", "edit_groups": "Edit working group",
    "edit_deadlines": "Edit budget deadline", "edit_meetings": "Edit meeting",
    "rec_saved": "Saved.", "rec_added": "Added.",
    "nothing_saved": "Nothing was saved.",
    "f_id": "Id", "f_name": "Name", "f_email": "Email", "f_language": "Language",
    "f_role": "Role", "f_name_th": "Name in Thai", "f_lead": "Lead",
    "f_countries": "Countries", "f_title": "Title", "f_title_th": "Title in Thai",
    "f_due_on": "Due date", "f_rrule": "Repeats (RRULE)",
    "f_working_groups": "Working groups", "f_notes": "Notes", "f_notes_th": "Notes in Thai",
    "f_start_date": "Date", "f_start_time": "Start time",
    "f_duration_minutes": "Duration in minutes", "f_location": "Location",
    "f_location_th": "Location in Thai", "f_invite_consulates": "Invite the consulates",
    "lang_th": "Thai", "lang_en": "English", "no_lead": "(no lead)",
    "id_hint": "lowercase letters, digits and hyphens, e.g. travel-plan; it cannot be "
    "changed later",
    "repeats": "Repeats", "rr_FREQ=YEARLY": "every year", "rr_FREQ=MONTHLY": "every month",
    "rr_FREQ=WEEKLY": "every week",
    "kept_change": "an occurrence moved or cancelled on its own would be lost",
    "was_on": "it was on",
    "countries_hint": "ISO country codes separated by commas, e.g. JP, KR",
    "title_hint": "{fiscal_year} and {next_fiscal_year} become the Buddhist-Era fiscal year",
    "rrule_hint": "empty: once, on the due date; FREQ=YEARLY: every year from it "
    "(RFC 5545)",
    "groups_hint": "none ticked: every group",
    "time_hint": "HH:MM, 24-hour, Thailand time",
    "recurring_hint": "A recurring meeting: a new date or time moves it from its first "
    "occurrence on; moved occurrences stay as they are.",
    "time_expected": "expected a time such as 09:30",
    "whole_minutes": "expected a whole number of minutes such as 120",
    "remove_contact": "Remove this contact",
    "remove_contact_hint": "Only a contact that no working group, consulate or MFA entry "
    "names can be removed.",
    # --- issue 16 review: the reader's words for codes, the language switch ---
    "switch_language": "Language", "switch_to": "Switch to", "language_saved": "Language saved.",
    "job_anniversaries": "anniversaries", "job_budget-deadlines": "budget deadlines",
    "job_dormant-partners": "dormant partners", "job_meeting-agendas": "meeting agendas",
    "activity_visit": "visit", "activity_meeting": "meeting", "activity_event": "event",
    "activity_exchange": "exchange", "activity_letter": "letter", "activity_other": "other",
    "contact_lead": "Group lead", "contact_consulate": "Consulate",
    "contact_mfa": "Ministry of Foreign Affairs", "contact_staff": "Staff",
    "contact_head": "Head of office",
    "action_load": "loaded the dataset", "action_add-activity": "recorded an activity",
    "action_correct-agreement": "corrected an agreement",
    "action_remove-agreement": "removed an agreement",
    "action_remove-activity": "removed an activity", "action_end-relation": "ended a relation",
    "action_cancel-meeting": "cancelled a meeting", "action_import": "imported a spreadsheet",
    "action_add-account": "added an account", "action_remove-account": "removed an account",
    "action_set-language": "changed the language",
    "cli": "command line (cli)",
    "detail_from": "before", "detail_ended_on": "Ended on", "detail_end_reason": "Reason",
    "detail_end_reason_th": "Reason (Thai)", "detail_occurrence": "Occurrence date",
    "via_email_link": "email link", "detail_before": "Before", "detail_after": "After",
    "detail_partners_created": "new partners", "detail_agreements_created": "new agreements",
    "detail_agreements_updated": "agreements updated",
    "detail_agreements_unchanged": "agreements unchanged",
    "all_occurrences": "every occurrence",
    "open_alone": "Open the email on its own page", "email_of": "Email",
    "row": "Row", "outcome": "What happens", "new_partner": "new partner",
    "in_group": "group", "no_group": "no working group", "matched": "matched",
    "match_new earlier": "new, from an earlier row", "match_matched by English name":
    "found by its English name", "match_matched by Thai name": "found by its Thai name",
    "agreement_new": "new agreement", "agreement_updated":
    "fills in or changes the stored agreement", "agreement_unchanged":
    "already recorded, skipped", "agreement_repeated": "repeats an earlier row, skipped",
    "import_summary": "{rows} rows; partners: {new} new, {matched} matched; agreements: "
    "{a_new} new, {a_updated} updated, {a_unchanged} unchanged. Nothing has changed yet.",
    "imported_summary": "{rows} rows; partners: {new} new; agreements: {a_new} new, "
    "{a_updated} updated, {a_unchanged} unchanged.",
    "file": "File", "warnings": "Warnings", "language_of": "language",
    "skip_to_main": "Skip to content",
    "bad_language": "The language must be Thai (th) or English (en). Nothing was changed.",
    "not_found_text": "There is no such page here. It may have been moved or removed.",
    # --- partner list search and paging (issue 16 load) ---
    "search": "Search", "search_hint": "Part of an id, an English or Thai name, or a country",
    "dormant_only": "Dormant partners only", "show_all": "Show all partners",
    "showing": "Partners {first}–{last} of {total}", "no_match": "No partner matches.",
    "n_more_dormant": "{n} more dormant partners", "longest_quiet_first": "longest quiet first",
    # --- the way back (issue 17): action links, feed, acknowledgements ---
    "feed_not_found": "This calendar address is not valid, or its working group no longer "
    "exists.",
    "link_tampered": "This link is not valid",
    "link_tampered_text": "The link was changed or cut short. Nothing was changed. Open it "
    "again from the email, or contact the office.",
    "link_expired": "This link has expired",
    "link_expired_text": "Links in emails work for 60 days after they were sent. Nothing was "
    "changed. Use the link in a newer email, or contact the office.",
    "item_gone": "This item is no longer in the registry. Nothing was changed.",
    "act_dormant": "No activity with {name} since {date}",
    "act_anniversary": "Anniversary: {name}, {date}",
    "act_deadline": "Budget deadline: {name}, act by {date}",
    "acting_as": "You act as", "link_until": "This link works until",
    "intro_record_dormant": "Record an activity with this partner: the reminders about its "
    "silence stop, for everyone.",
    "intro_record_anniversary": "Record what was done or planned for this anniversary: the "
    "reminders about it stop, for everyone.",
    "intro_snooze": "Snooze: this reminder is not repeated to you until {date}. Others who "
    "get it still do.",
    "intro_no_action": "No action: you acknowledge this anniversary and plan nothing for it. "
    "Its reminders to you stop.",
    "intro_done": "Done: no further reminder of this deadline goes to anyone.",
    "snooze": "Snooze", "no_action": "No action", "done": "Done",
    "result_record": "Activity recorded", "result_snooze": "Snoozed",
    "result_no-action": "No action recorded", "result_done": "Marked done",
    "by_whom": "By", "until": "Until", "activity": "Activity",
    "thanks": "Thank you. Nothing more is needed.",
    "already_done": "This was already done: nothing was changed.",
    "acknowledgements": "Acknowledgements", "item": "Item", "action": "Action",
    "action_record": "recorded an activity", "action_snooze": "snoozed",
    "action_no-action": "no action", "action_done": "marked done",
    "kind_dormant": "dormant partner", "kind_anniversary": "anniversary",
    "kind_deadline": "budget deadline",
    "escalations": "Escalations", "heads_told": "Heads told", "told_before": "Told before",
    "escalated_on": "Escalated",
    "ack_intro": "What readers did with the links in their emails, newest first.",
    # --- audit log words for every action (fix1) ---
    "action_acknowledge": "acknowledged a reminder (activity already recorded)",
    "action_add-contact": "added a contact", "action_edit-contact": "edited a contact",
    "action_remove-contact": "removed a contact", "action_add-group": "added a working group",
    "action_edit-group": "edited a working group",
    "action_add-deadline": "added a budget deadline",
    "action_edit-deadline": "edited a budget deadline", "action_edit-meeting": "edited a meeting",
}

TH: dict[str, str] = {
    "app": "ระบบเมืองพี่เมืองน้อง",
    "email": "อีเมล", "password": "รหัสผ่าน", "sign_in": "เข้าสู่ระบบ", "sign_out": "ออกจากระบบ",
    "signed_in_as": "เข้าสู่ระบบในชื่อ",
    "wrong_password": "อีเมลหรือรหัสผ่านไม่ถูกต้อง",
    "too_many": "เข้าสู่ระบบผิดหลายครั้งเกินไป กรุณารอ 15 นาทีแล้วลองใหม่",
    "dashboard": "ภาพรวม", "partners": "เมืองพี่เมืองน้อง", "import": "นำเข้า",
    "export": "ส่งออก", "audit": "บันทึกการเปลี่ยนแปลง", "outbox": "กล่องจดหมายออก",
    "jobs": "งานอัตโนมัติ", "accounts": "บัญชีผู้ใช้", "contacts": "ผู้ติดต่อ",
    "groups": "คณะทำงาน", "deadlines": "กำหนดส่งงบประมาณ", "meetings": "การประชุม",
    "menu": "เมนู",
    "next_90": "90 วันข้างหน้า", "anniversaries": "วันครบรอบ", "act_by": "ดำเนินการภายใน",
    "due": "กำหนด", "dormant": "เมืองที่ขาดการติดต่อ", "none": "ไม่มี",
    "outbox_health": "กล่องจดหมายออก", "pending": "รอส่ง", "failed": "ส่งไม่สำเร็จ",
    "sent": "ส่งแล้ว", "sending": "กำลังส่ง", "all": "ทั้งหมด",
    "years": "ปี", "quiet_since": "เงียบตั้งแต่", "never": "ไม่เคย",
    "partner": "เมือง", "country": "ประเทศ", "group": "คณะทำงาน", "agreements": "ข้อตกลง",
    "activities": "กิจกรรม", "last_activity": "กิจกรรมล่าสุด", "route": "ช่องทางติดต่อ",
    "route_consulate": "ผ่านสถานกงสุล", "route_mfa": "ผ่านกระทรวงการต่างประเทศ",
    "no_contact": "ไม่มีผู้ติดต่อ", "ended_on": "ความสัมพันธ์สิ้นสุดเมื่อ",
    "date": "วันที่", "title": "หัวข้อ", "kind": "ประเภท",
    "kind_hint": "ไม่บังคับ เช่น การเยือน การประชุม กิจกรรม การแลกเปลี่ยน หนังสือ อื่น ๆ",
    "record": "บันทึก", "add_activity": "เพิ่มกิจกรรม", "date_hint": "เช่น 15/11/2569 หรือ 2026-11-15",
    "remove": "ลบ", "correct": "แก้ไข", "save": "ยืนยันการแก้ไข",
    "signed_on": "ลงนามเมื่อ", "expires_on": "หมดอายุเมื่อ", "local_party": "ผู้ลงนาม",
    "notes": "หมายเหตุ", "agreement_type": "ชนิดข้อตกลง",
    "next_anniversary": "ครบรอบครั้งถัดไป", "id": "รหัส",
    "end_relation": "ยุติความสัมพันธ์", "end_on": "สิ้นสุดเมื่อ", "reason": "เหตุผล",
    "end": "ยุติความสัมพันธ์",
    "recorded": "บันทึกแล้ว", "already_recorded": "มีบันทึกนี้อยู่แล้ว ไม่มีการเปลี่ยนแปลง",
    "removed": "ลบแล้ว", "corrected": "แก้ไขแล้ว", "nothing_changed": "ไม่มีการเปลี่ยนแปลง",
    "ended": "บันทึกการยุติความสัมพันธ์แล้ว",
    "problem": "กรุณาแก้ไข:", "forbidden": "คุณไม่มีสิทธิ์ทำรายการนี้",
    "forbidden_text": "บัญชีของคุณดูได้อย่างเดียว หรือแบบฟอร์มหมดอายุ กรุณาโหลดหน้าใหม่แล้วลองอีกครั้ง",
    "csrf_text": "แบบฟอร์มหมดอายุหรือไม่ได้มาจากเว็บไซต์นี้ ไม่มีการเปลี่ยนแปลงใด ๆ "
    "กรุณากลับไปโหลดหน้าใหม่แล้วลองอีกครั้ง",
    "not_found": "ไม่พบหน้าที่ต้องการ", "back": "กลับ",
    "state": "สถานะ", "recipient": "ผู้รับ", "subject": "เรื่อง", "attempts": "จำนวนครั้ง",
    "last_error": "ข้อผิดพลาดล่าสุด", "job": "งาน", "created": "สร้างเมื่อ", "message": "ข้อความ",
    "retry": "ส่งใหม่", "retry_failed": "ส่งใหม่ทุกฉบับที่ไม่สำเร็จ", "requeued": "เข้าคิวใหม่:",
    "as_reader": "ตามที่ผู้รับเห็น", "plain_text": "ข้อความล้วน",
    "run_now": "เรียกใช้ทันที", "preview": "ดูตัวอย่าง", "as_of": "ณ วันที่",
    "as_of_hint": "เช่น 15/11/2569 เว้นว่าง: วันนี้", "ran": "เรียกใช้แล้ว", "would_send": "จะส่ง",
    "notices": "รายการ", "messages": "ฉบับ", "language": "ภาษา",
    "schedule": "กำหนดเวลา", "last_run": "ครั้งล่าสุด",
    "spreadsheet_file": "ไฟล์ตาราง (Spreadsheet file)", "upload": "อัปโหลดและตรวจสอบ",
    "dry_run_report": "สิ่งที่จะเปลี่ยนแปลงเมื่อนำเข้า", "confirm": "ยืนยัน",
    "imported": "นำเข้าแล้ว", "export_xlsx": "ดาวน์โหลด (Excel)", "export_csv": "ดาวน์โหลด (CSV)",
    "rows": "แถว", "when": "เมื่อ", "who": "ผู้ทำ", "what": "รายการ", "target": "ที่",
    "details": "รายละเอียด",
    "name": "ชื่อ", "role": "บทบาท", "add_account": "เพิ่มบัญชี", "added": "เพิ่มแล้ว",
    "role_admin": "ผู้ดูแลระบบ", "role_staff": "เจ้าหน้าที่", "role_viewer": "ผู้ดูอย่างเดียว",
    "lead": "หัวหน้า", "countries": "ประเทศ", "location": "สถานที่", "next": "ครั้งถัดไป",
    "cancel_meeting": "ยกเลิกการประชุม", "occurrence": "วันที่ของครั้งที่ยกเลิก",
    "occurrence_hint": "วันที่ของครั้งที่จะยกเลิก หากจะยกเลิกทุกครั้ง ให้เลือกช่องด้านล่าง",
    "cancel_every": "ยกเลิกการประชุมนี้ทุกครั้ง",
    "cancel_which": "โปรดระบุวันที่ของครั้งที่จะยกเลิก หรือเลือก “ยกเลิกการประชุมนี้ทุกครั้ง” "
    "ยังไม่ได้ยกเลิกสิ่งใด",
    "cancelled": "ยกเลิกแล้ว ผู้ได้รับเชิญทุกคนจะได้รับแจ้งการยกเลิกในรอบถัดไป",
    "is_cancelled": "ยกเลิกแล้ว",
    "field_required": "ต้องไม่เว้นว่าง", "pick_job": "งาน",
    "other_lang": "English", "other_lang_code": "en",
    "page": "หน้า", "of": "จาก", "previous": "หน้าก่อน", "next_page": "หน้าถัดไป",
    "more": "รายการ",
    # --- registry forms (issue 16: contacts, groups, deadlines, meetings) ---
    "edit": "แก้ไข", "add": "เพิ่ม", "every_group": "ทุกคณะทำงาน",
    "view_only": "คุณดูรายการเหล่านี้ได้ เจ้าหน้าที่และผู้ดูแลระบบเป็นผู้แก้ไข",
    "new_contacts": "เพิ่มผู้ติดต่อ", "new_groups": "เพิ่มคณะทำงาน",
    "new_deadlines": "เพิ่มกำหนดส่งงบประมาณ",
    "edit_contacts": "แก้ไขผู้ติดต่อ", "edit_groups": "แก้ไขคณะทำงาน",
    "edit_deadlines": "แก้ไขกำหนดส่งงบประมาณ", "edit_meetings": "แก้ไขการประชุม",
    "rec_saved": "บันทึกแล้ว", "rec_added": "เพิ่มแล้ว",
    "nothing_saved": "ยังไม่ได้บันทึกสิ่งใด",
    "f_id": "รหัส (Id)", "f_name": "ชื่อ", "f_email": "อีเมล", "f_language": "ภาษา",
    "f_role": "บทบาท", "f_name_th": "ชื่อภาษาไทย", "f_lead": "หัวหน้าคณะทำงาน",
    "f_countries": "ประเทศ", "f_title": "หัวข้อ", "f_title_th": "หัวข้อภาษาไทย",
    "f_due_on": "วันครบกำหนด", "f_rrule": "การทำซ้ำ (RRULE)",
    "f_working_groups": "คณะทำงาน", "f_notes": "หมายเหตุ", "f_notes_th": "หมายเหตุภาษาไทย",
    "f_start_date": "วันที่", "f_start_time": "เวลาเริ่ม",
    "f_duration_minutes": "ระยะเวลา (นาที)", "f_location": "สถานที่",
    "f_location_th": "สถานที่ภาษาไทย", "f_invite_consulates": "เชิญสถานกงสุล",
    "lang_th": "ไทย", "lang_en": "อังกฤษ", "no_lead": "(ไม่มีหัวหน้า)",
    "id_hint": "อักษรอังกฤษตัวเล็ก ตัวเลข และขีด เช่น travel-plan เปลี่ยนภายหลังไม่ได้",
    "repeats": "ทำซ้ำ", "rr_FREQ=YEARLY": "ทุกปี", "rr_FREQ=MONTHLY": "ทุกเดือน",
    "rr_FREQ=WEEKLY": "ทุกสัปดาห์",
    "kept_change": "ครั้งที่ย้ายหรือยกเลิกไว้เฉพาะครั้งจะสูญหาย",
    "was_on": "ผ่านไปแล้วเมื่อ",
    "countries_hint": "รหัสประเทศ ISO คั่นด้วยจุลภาค เช่น JP, KR",
    "title_hint": "{fiscal_year} และ {next_fiscal_year} จะแทนด้วยปีงบประมาณ (พ.ศ.)",
    "rrule_hint": "เว้นว่าง: ครั้งเดียวในวันครบกำหนด; FREQ=YEARLY: ทุกปีนับจากวันนั้น",
    "groups_hint": "ไม่เลือก: ทุกคณะทำงาน",
    "time_hint": "ชม.:นาที แบบ 24 ชั่วโมง เวลาประเทศไทย",
    "recurring_hint": "การประชุมที่จัดซ้ำ: วันหรือเวลาใหม่มีผลตั้งแต่ครั้งแรกเป็นต้นไป "
    "ครั้งที่ย้ายไว้แล้วคงเดิม",
    "time_expected": "ต้องเป็นเวลา เช่น 09:30",
    "whole_minutes": "ต้องเป็นจำนวนนาทีเต็ม เช่น 120",
    "remove_contact": "ลบผู้ติดต่อนี้",
    "remove_contact_hint": "ลบได้เฉพาะผู้ติดต่อที่ไม่มีคณะทำงาน สถานกงสุล หรือกระทรวงฯ อ้างถึง",
    # --- issue 16 review: the reader's words for codes, the language switch ---
    "switch_language": "ภาษา", "switch_to": "เปลี่ยนเป็น", "language_saved": "บันทึกภาษาแล้ว",
    "job_anniversaries": "แจ้งวันครบรอบ", "job_budget-deadlines": "แจ้งกำหนดส่งงบประมาณ",
    "job_dormant-partners": "แจ้งเมืองที่ขาดการติดต่อ", "job_meeting-agendas": "วาระการประชุม",
    **{f"activity_{code}": thai for code, thai in ACTIVITY_KINDS.items()},
    "contact_lead": "หัวหน้าคณะทำงาน", "contact_consulate": "สถานกงสุล",
    "contact_mfa": "กระทรวงการต่างประเทศ", "contact_staff": "เจ้าหน้าที่",
    "contact_head": "ผู้บังคับบัญชา",
    "action_load": "โหลดชุดข้อมูล", "action_add-activity": "บันทึกกิจกรรม",
    "action_correct-agreement": "แก้ไขข้อตกลง", "action_remove-agreement": "ลบข้อตกลง",
    "action_remove-activity": "ลบกิจกรรม", "action_end-relation": "ยุติความสัมพันธ์",
    "action_cancel-meeting": "ยกเลิกการประชุม", "action_import": "นำเข้าไฟล์ตาราง",
    "action_add-account": "เพิ่มบัญชีผู้ใช้", "action_remove-account": "ลบบัญชีผู้ใช้",
    "action_set-language": "เปลี่ยนภาษา",
    "cli": "บรรทัดคำสั่ง (cli)",
    "detail_from": "เดิม", "detail_ended_on": "สิ้นสุดเมื่อ", "detail_end_reason": "เหตุผล",
    "detail_end_reason_th": "เหตุผล (ภาษาไทย)", "detail_occurrence": "วันที่ของรายการ",
    "via_email_link": "ลิงก์ในอีเมล", "detail_before": "เดิม", "detail_after": "ใหม่",
    "detail_partners_created": "เมืองใหม่", "detail_agreements_created": "ข้อตกลงใหม่",
    "detail_agreements_updated": "ข้อตกลงที่แก้ไข",
    "detail_agreements_unchanged": "ข้อตกลงที่ไม่เปลี่ยน",
    "all_occurrences": "ทุกครั้ง",
    "open_alone": "เปิดอีเมลเต็มหน้า", "email_of": "อีเมล",
    "row": "แถว", "outcome": "ผลการนำเข้า", "new_partner": "เมืองใหม่",
    "in_group": "คณะทำงาน", "no_group": "ไม่มีคณะทำงาน", "matched": "พบในทะเบียน",
    "match_new earlier": "เมืองใหม่ จากแถวก่อนหน้า", "match_matched by English name":
    "พบจากชื่อภาษาอังกฤษ", "match_matched by Thai name": "พบจากชื่อภาษาไทย",
    "agreement_new": "ข้อตกลงใหม่", "agreement_updated": "เติมหรือแก้ไขข้อตกลงที่มีอยู่",
    "agreement_unchanged": "มีบันทึกอยู่แล้ว ข้าม", "agreement_repeated": "ซ้ำกับแถวก่อนหน้า ข้าม",
    "import_summary": "{rows} แถว; เมือง: ใหม่ {new} พบในทะเบียน {matched}; ข้อตกลง: ใหม่ "
    "{a_new} แก้ไข {a_updated} ไม่เปลี่ยน {a_unchanged} ยังไม่มีการเปลี่ยนแปลงใด ๆ",
    "imported_summary": "{rows} แถว; เมือง: ใหม่ {new}; ข้อตกลง: ใหม่ {a_new} แก้ไข "
    "{a_updated} ไม่เปลี่ยน {a_unchanged}",
    "file": "ไฟล์", "warnings": "คำเตือน", "language_of": "ภาษา",
    "skip_to_main": "ข้ามไปยังเนื้อหา",
    "bad_language": "ภาษาต้องเป็นภาษาไทย (th) หรือภาษาอังกฤษ (en) ไม่มีการเปลี่ยนแปลงใด ๆ",
    "not_found_text": "ไม่พบหน้านี้ อาจถูกย้ายหรือลบไปแล้ว",
    # --- partner list search and paging (issue 16 load) ---
    "search": "ค้นหา", "search_hint": "รหัส ชื่อภาษาอังกฤษหรือภาษาไทย หรือประเทศ (บางส่วนก็ได้)",
    "dormant_only": "เฉพาะเมืองที่ขาดการติดต่อ", "show_all": "แสดงทั้งหมด",
    "showing": "รายการที่ {first}–{last} จาก {total}", "no_match": "ไม่พบเมืองที่ตรงกัน",
    "n_more_dormant": "ดูอีก {n} แห่งที่ขาดการติดต่อ", "longest_quiet_first": "ขาดการติดต่อนานที่สุดก่อน",
    # --- the way back (issue 17): action links, feed, acknowledgements ---
    "feed_not_found": "ที่อยู่ปฏิทินนี้ไม่ถูกต้อง หรือคณะทำงานนี้ไม่มีอยู่แล้ว",
    "link_tampered": "ลิงก์นี้ไม่ถูกต้อง",
    "link_tampered_text": "ลิงก์ถูกแก้ไขหรือไม่ครบถ้วน ไม่มีการเปลี่ยนแปลงใด ๆ "
    "กรุณาเปิดลิงก์จากอีเมลอีกครั้ง หรือติดต่อสำนักงาน",
    "link_expired": "ลิงก์นี้หมดอายุแล้ว",
    "link_expired_text": "ลิงก์ในอีเมลใช้ได้ 60 วันนับจากวันที่ส่ง ไม่มีการเปลี่ยนแปลงใด ๆ "
    "กรุณาใช้ลิงก์ในอีเมลฉบับใหม่กว่า หรือติดต่อสำนักงาน",
    "item_gone": "ไม่พบรายการนี้ในทะเบียนแล้ว ไม่มีการเปลี่ยนแปลงใด ๆ",
    "act_dormant": "ไม่มีกิจกรรมกับ {name} ตั้งแต่ {date}",
    "act_anniversary": "วันครบรอบ: {name} วันที่ {date}",
    "act_deadline": "กำหนดส่งงบประมาณ: {name} ดำเนินการภายใน {date}",
    "acting_as": "คุณดำเนินการในนามของ", "link_until": "ลิงก์นี้ใช้ได้ถึง",
    "intro_record_dormant": "บันทึกกิจกรรมกับเมืองนี้ แล้วการแจ้งเตือนเรื่องขาดการติดต่อจะหยุดสำหรับทุกคน",
    "intro_record_anniversary": "บันทึกสิ่งที่ทำหรือวางแผนไว้สำหรับวันครบรอบนี้ "
    "แล้วการแจ้งเตือนเรื่องนี้จะหยุดสำหรับทุกคน",
    "intro_snooze": "เลื่อน: จะไม่แจ้งเตือนเรื่องนี้ซ้ำถึงคุณจนถึง {date} ผู้รับคนอื่นยังได้รับตามปกติ",
    "intro_no_action": "ไม่ดำเนินการ: รับทราบวันครบรอบนี้และไม่มีแผนดำเนินการ "
    "การแจ้งเตือนเรื่องนี้ถึงคุณจะหยุด",
    "intro_done": "เสร็จแล้ว: จะไม่มีการแจ้งเตือนกำหนดนี้ถึงผู้ใดอีก",
    "snooze": "เลื่อน", "no_action": "ไม่ดำเนินการ", "done": "เสร็จแล้ว",
    "result_record": "บันทึกกิจกรรมแล้ว", "result_snooze": "เลื่อนแล้ว",
    "result_no-action": "บันทึกว่าไม่ดำเนินการแล้ว", "result_done": "บันทึกว่าเสร็จแล้ว",
    "by_whom": "โดย", "until": "จนถึง", "activity": "กิจกรรม",
    "thanks": "ขอบคุณ ไม่ต้องดำเนินการใดเพิ่มเติม",
    "already_done": "รายการนี้ดำเนินการไปแล้ว ไม่มีการเปลี่ยนแปลงใด ๆ",
    "acknowledgements": "การตอบรับ", "item": "รายการ", "action": "การดำเนินการ",
    "action_record": "บันทึกกิจกรรม", "action_snooze": "เลื่อน",
    "action_no-action": "ไม่ดำเนินการ", "action_done": "เสร็จแล้ว",
    "kind_dormant": "เมืองที่ขาดการติดต่อ", "kind_anniversary": "วันครบรอบ",
    "kind_deadline": "กำหนดส่งงบประมาณ",
    "escalations": "รายการที่แจ้งผู้บังคับบัญชา", "heads_told": "ผู้บังคับบัญชาที่ได้รับแจ้ง",
    "told_before": "ผู้ที่ได้รับแจ้งก่อนหน้า", "escalated_on": "แจ้งเมื่อ",
    "ack_intro": "สิ่งที่ผู้รับอีเมลดำเนินการผ่านลิงก์ เรียงจากล่าสุด",
    # --- audit log words for every action (fix1) ---
    "action_acknowledge": "รับทราบการแจ้งเตือน (บันทึกกิจกรรมไว้แล้ว)",
    "action_add-contact": "เพิ่มผู้ติดต่อ", "action_edit-contact": "แก้ไขผู้ติดต่อ",
    "action_remove-contact": "ลบผู้ติดต่อ", "action_add-group": "เพิ่มคณะทำงาน",
    "action_edit-group": "แก้ไขคณะทำงาน", "action_add-deadline": "เพิ่มกำหนดส่งงบประมาณ",
    "action_edit-deadline": "แก้ไขกำหนดส่งงบประมาณ", "action_edit-meeting": "แก้ไขการประชุม",
}


def text(lang: str, key: str) -> str:
    """The word for `key` in `lang` ("th" or "en"); English when Thai lacks it; the key
    itself when neither has it."""
    if lang == "th" and key in TH:
        return TH[key]
    return EN.get(key, key)


def pick_language(header: str | None) -> str:
    """The language for a signed-out visitor from an Accept-Language header: "th" when Thai
    comes before English, else "en"."""
    for part in (header or "").lower().split(","):
        tag = part.split(";")[0].strip()
        if tag.startswith("th"):
            return "th"
        if tag.startswith("en"):
            return "en"
    return "en"


def label(lang: str, prefix: str, code: str) -> str:
    """The reader's word for a code of the kind `prefix` ("job", "activity", "contact",
    "action", "match", "agreement"…): the text of the key `prefix_code`, else the code itself
    (a new code shows as it is stored rather than as nothing)."""
    key = f"{prefix}_{code}"
    return text(lang, key) if key in EN else code


@cache
def _locale(lang: str) -> Locale:
    return Locale.parse(lang)


def country_name(code: str, lang: str) -> str:
    """The name of the country with ISO 3166-1 alpha-2 `code` ("MM") in `lang` ("th" or
    "en"), from CLDR by babel (`Locale.parse('th').territories`): "เมียนมา (พม่า)",
    "Myanmar (Burma)". The code itself when CLDR does not know it."""
    try:
        names = _locale(lang).territories
    except (UnknownLocaleError, ValueError):
        return code
    return str(names.get(code.upper(), code))


def language_name(code: str, lang: str) -> str:
    """The name of the language `code` ("th", "en") in `lang`, from CLDR: "ไทย", "English"."""
    try:
        names = _locale(lang).languages
    except (UnknownLocaleError, ValueError):
        return code
    return str(names.get(code, code))


def _weekday(cron_day: int, lang: str) -> str:
    # cron: 0 and 7 are Sunday, 1 Monday; babel (CLDR): 0 is Monday
    return str(_locale(lang).days["format"]["wide"][(cron_day - 1) % 7])


def describe_schedule(expression: str, lang: str) -> str:
    """A `[schedule]` crontab line (SPEC "config.toml") in words, for the forms an office
    uses: a fixed minute and hour, every day of the month and every month, and every day, a
    range ("1-5") or a list ("1,3") of weekdays: "0 8 * * 1-5" → "Monday to Friday at 08:00",
    "วันจันทร์ถึงวันศุกร์ เวลา 08:00 น.". Any other expression is returned as it is."""
    fields = expression.split()
    if len(fields) != 5 or not (fields[0].isdigit() and fields[1].isdigit()):
        return expression
    minute, hour, dom, month, dow = fields
    if dom != "*" or month != "*" or int(minute) > 59 or int(hour) > 23:
        return expression
    at = f"{int(hour):02d}:{int(minute):02d}"
    th = lang == "th"
    if dow == "*":
        days = "ทุกวัน" if th else "every day"
    elif re.fullmatch(r"[0-7]-[0-7]", dow):
        first, last = (_weekday(int(d), lang) for d in dow.split("-"))
        days = f"{first}ถึง{last}" if th else f"{first} to {last}"
    elif re.fullmatch(r"[0-7](,[0-7])*", dow):
        names = list(dict.fromkeys(_weekday(int(d), lang) for d in dow.split(",")))
        days = ("ทุก" + " ".join(names)) if th else "every " + ", ".join(names)
    else:
        return expression
    return f"{days} เวลา {at} น." if th else f"{days} at {at}"
