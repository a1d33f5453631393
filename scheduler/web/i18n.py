"""The web app's words in English and Thai (SPEC "The office web app": each user's choice).

`text(lang, key)` gives one; a key missing in Thai falls back to English, and an unknown key is
shown as itself (a visible, harmless mistake rather than a crash). Dates are formatted by
scheduler.dates.thaidate (Buddhist Era in Thai).
"""

from __future__ import annotations

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
    "occurrence_hint": "the date of one occurrence; empty: every occurrence",
    "cancelled": "Cancelled: everyone invited gets a cancellation at the next run.",
    "is_cancelled": "cancelled",
    "read_only": "Read-only list; edit with the dataset file and `sistercity load`.",
    "field_required": "must not be empty", "pick_job": "Job",
    "other_lang": "ภาษาไทย", "other_lang_code": "th",
    "page": "Page", "of": "of", "previous": "Previous page", "next_page": "Next page",
    "more": "more",
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
    "action_no-action": "no action", "action_done": "done",
    "kind_dormant": "dormant partner", "kind_anniversary": "anniversary",
    "kind_deadline": "budget deadline",
    "escalations": "Escalations", "heads_told": "Heads told", "told_before": "Told before",
    "escalated_on": "Escalated",
    "ack_intro": "What readers did with the links in their emails, newest first.",
}

TH: dict[str, str] = {
    "app": "เมืองพี่เมืองน้อง",
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
    "kind_hint": "ไม่บังคับ: visit, meeting, event, exchange, letter, other",
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
    "as_of_hint": "เว้นว่าง: วันนี้", "ran": "เรียกใช้แล้ว", "would_send": "จะส่ง",
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
    "occurrence_hint": "เว้นว่าง: ยกเลิกทุกครั้ง",
    "cancelled": "ยกเลิกแล้ว ผู้ได้รับเชิญทุกคนจะได้รับแจ้งการยกเลิกในรอบถัดไป",
    "is_cancelled": "ยกเลิกแล้ว",
    "read_only": "ดูได้อย่างเดียว แก้ไขในไฟล์ข้อมูลแล้วใช้ `sistercity load`",
    "field_required": "ต้องไม่เว้นว่าง", "pick_job": "งาน",
    "other_lang": "English", "other_lang_code": "en",
    "page": "หน้า", "of": "จาก", "previous": "หน้าก่อน", "next_page": "หน้าถัดไป",
    "more": "รายการ",
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
