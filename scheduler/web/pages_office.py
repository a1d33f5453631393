"""Office pages: the outbox (a message as its reader sees it, retry), jobs (run now, preview),
spreadsheet import (upload → dry-run report → confirm) and export, and the audit log.

Changes go through the service layer (scheduler.services.outbox, .runs, scheduler.sheets
.operations), as the CLI's do.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy import select
from starlette.datastructures import UploadFile
from starlette.responses import Response

from jobs import JOB_NAMES
from scheduler.dates.thaidate import format_date
from scheduler.db.tables import message_bodies
from scheduler.errors import DataError, UserError
from scheduler.registry.domain import AgreementKind
from scheduler.services.audit import entries
from scheduler.services.outbox import list_outbox, requeue
from scheduler.services.runs import deliver_queued, dry_run, queue_jobs
from scheduler.services.status import collect_status
from scheduler.services.users import LANGUAGES, Role
from scheduler.sheets.operations import export_file, import_upload
from scheduler.web.core import Ctx, page
from scheduler.web.i18n import EN, label, language_name
from scheduler.web.pages_registry import FieldError, read_date

STATES = ("pending", "sending", "sent", "failed")
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
UPLOAD_SECONDS = 30 * 60  # an upload waits this long for its confirmation


@page(Role.VIEWER)
def outbox(ctx: Ctx) -> Response:
    """Messages by id, newest first, of one state or all."""
    state = ctx.request.query_params.get("state", "")
    state = state if state in STATES else ""
    rows = list_outbox(ctx.state.db, ctx.state.settings.tz, state=state or None)
    return ctx.render("outbox.html", rows=list(reversed(rows)), state=state, states=STATES,
                      requeued=ctx.request.query_params.get("requeued", ""))


def _stored_message(ctx: Ctx, message_id: int) -> EmailMessage | None:
    with ctx.state.db.read() as session:
        data = session.scalar(select(message_bodies.c.data)
                              .where(message_bodies.c.message_id == message_id))
    if data is None:
        return None
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _html_of(stored: EmailMessage | None) -> str:
    part = stored.get_body(preferencelist=("html",)) if stored is not None else None
    return str(part.get_content()) if part is not None else ""


# The email alone: shown as a document of no origin (CSP sandbox), no script, no fetch but
# its own inline styles and data: images, so that nothing in it acts on this site.
EMAIL_PAGE_CSP = ("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                  "frame-ancestors 'self'; base-uri 'none'; form-action 'none'")


@page(Role.VIEWER)
def message_html(ctx: Ctx) -> Response:
    """GET /outbox/{id}/html: one message's HTML part alone, as its reader's mail program
    shows it, full width (on a phone too); sandboxed by its CSP. 404 without one."""
    raw = ctx.request.path_params["id"]
    stored = _stored_message(ctx, int(raw)) if raw.isdigit() else None
    html = _html_of(stored)
    if not html:
        return ctx.refuse(404, "not_found", "not_found_text")
    return Response(html, media_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": EMAIL_PAGE_CSP})


@page(Role.VIEWER)
def message(ctx: Ctx) -> Response:
    """One message: its headers and state, its HTML part in a sandboxed iframe (no scripts,
    no same origin) and its plain text, escaped."""
    try:
        message_id = int(ctx.request.path_params["id"])
    except ValueError:
        return ctx.refuse(404, "not_found", "not_found")
    found = [m for m in list_outbox(ctx.state.db, ctx.state.settings.tz)
             if m.id == message_id]
    stored = _stored_message(ctx, message_id)
    if not found:
        return ctx.refuse(404, "not_found", "not_found")
    html, plain = _html_of(stored), ""
    if stored is not None:
        text_part = stored.get_body(preferencelist=("plain",))
        plain = str(text_part.get_content()) if text_part is not None else ""
    return ctx.render("message.html", m=found[0], html=html, plain=plain)


@page(Role.STAFF)
def retry(ctx: Ctx) -> Response:
    """POST: requeue one failed message (`id`), or every failed one."""
    raw = ctx.field("id")
    ids = [int(raw)] if raw.isdigit() else []
    try:
        done = requeue(ctx.state.db, ids, now=ctx.now)
    except UserError:
        return ctx.refuse(404, "not_found", "not_found")
    return ctx.redirect(f"/outbox?requeued={len(done.requeued)}")


@page(Role.VIEWER)
def jobs_page(ctx: Ctx) -> Response:
    """Each job's schedule and last run, with forms to run it now or preview it."""
    status = collect_status(ctx.state.db, ctx.state.settings, ctx.now)
    return ctx.render("jobs.html", job_status=status, jobs=JOB_NAMES, result=None, error="",
                      values={})


def _job_form(ctx: Ctx) -> tuple[str, dt.date]:
    job = ctx.field("job")
    if job not in JOB_NAMES:
        raise FieldError("job", f'"{job}" is not one of {", ".join(JOB_NAMES)}')
    return job, read_date(ctx, "as_of", required=False) or ctx.today


@page(Role.STAFF)
def run_job(ctx: Ctx) -> Response:
    """POST: run one job now (plan, queue, deliver), as `sistercity run JOB` does; or, with
    `preview`, list what it would send and change nothing."""
    status = collect_status(ctx.state.db, ctx.state.settings, ctx.now)
    values = {k: ctx.field(k) for k in ("job", "as_of")}
    try:
        job, as_of = _job_form(ctx)
        runner = ctx.state.runner
        if ctx.field("preview"):
            result = next(iter(dry_run(runner, [job], as_of, now=ctx.now)))
            return ctx.render("jobs.html", job_status=status, jobs=JOB_NAMES, result=result,
                              error="", values=values, preview=True)
        results = queue_jobs(runner, [job], as_of, now=ctx.now)
        outcome = deliver_queued(runner, results, clock=ctx.state.clock)
    except FieldError as exc:
        return ctx.render("jobs.html", 400, job_status=status, jobs=JOB_NAMES, result=None,
                          error=f"{ctx.t(exc.label)}: {exc.reason}", values=values)
    except UserError as exc:
        return ctx.render("jobs.html", 400, job_status=status, jobs=JOB_NAMES, result=None,
                          error=exc.message, values=values)
    # The status as it is after this run: its "last run" is the one just made.
    status = collect_status(ctx.state.db, ctx.state.settings, ctx.now)
    return ctx.render("jobs.html", job_status=status, jobs=JOB_NAMES, result=outcome.results[0],
                      error="", values=values, preview=False)


@dataclass(frozen=True)
class _Upload:
    email: str
    name: str
    data: bytes
    expires: float


@page(Role.VIEWER)
def import_page(ctx: Ctx) -> Response:
    """The upload form, and the export downloads."""
    return ctx.render("import.html", report=None, error="", token="", done=None)


def _uploads(ctx: Ctx) -> dict[str, _Upload]:
    store: dict[str, _Upload] = ctx.state.uploads
    now = ctx.now.timestamp()
    for key in [k for k, u in list(store.items()) if u.expires < now]:
        store.pop(key, None)
    return store


@page(Role.STAFF)
def import_upload_page(ctx: Ctx) -> Response:
    """POST the file: the dry-run report, nothing changed; a Confirm button imports it."""
    file = ctx.form.get("file") if ctx.form is not None else None
    if not isinstance(file, UploadFile) or not file.filename:
        return ctx.render("import.html", 400, report=None, token="", done=None,
                          error=f"{ctx.t('spreadsheet_file')}: {ctx.t('field_required')}")
    data = file.file.read(MAX_UPLOAD_BYTES + 1)
    name = Path(file.filename).name
    if len(data) > MAX_UPLOAD_BYTES:
        return ctx.render("import.html", 413, report=None, token="", done=None,
                          error=f"{name}: larger than {MAX_UPLOAD_BYTES // 2**20} MB")
    try:
        report = import_upload(ctx.state.db, name, data, dry_run=True, today=ctx.today)
    except DataError as exc:
        return ctx.render("import.html", 400, report=None, token="", done=None,
                          error="\n".join([*exc.problems, exc.message.splitlines()[-1]]))
    except UserError as exc:
        return ctx.render("import.html", 400, report=None, token="", done=None,
                          error=exc.message)
    assert ctx.user is not None
    token = secrets.token_urlsafe(24)
    _uploads(ctx)[token] = _Upload(ctx.user.email, name, data,
                                   ctx.now.timestamp() + UPLOAD_SECONDS)
    return ctx.render("import.html", report=report, error="", token=token, done=None)


@page(Role.STAFF)
def import_confirm(ctx: Ctx) -> Response:
    """POST the confirmation of an upload checked just before: import it for real."""
    upload = _uploads(ctx).pop(ctx.field("token"), None)
    assert ctx.user is not None
    if upload is None or upload.email != ctx.user.email:
        return ctx.render("import.html", 400, report=None, token="", done=None,
                          error=f"{ctx.t('spreadsheet_file')}: upload it again")
    try:
        done = import_upload(ctx.state.db, upload.name, upload.data, dry_run=False,
                             today=ctx.today, by=ctx.actor)
    except UserError as exc:  # the registry changed since the dry run
        return ctx.render("import.html", 400, report=None, token="", done=None,
                          error=exc.message)
    return ctx.render("import.html", report=None, error="", token="", done=done)


@page(Role.VIEWER)
def export(ctx: Ctx) -> Response:
    """Download every agreement as .xlsx (a sheet per working group) or .csv, as of today."""
    suffix = ".csv" if ctx.request.query_params.get("format") == "csv" else ".xlsx"
    name = f"sistercity-agreements-{ctx.today.isoformat()}{suffix}"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        export_file(ctx.state.db, path, as_of=ctx.today,
                    after_days=ctx.state.settings.jobs.dormant_after_days)
        data = path.read_bytes()
    media = ("text/csv; charset=utf-8" if suffix == ".csv" else
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return Response(data, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _detail_title(ctx: Ctx, key: str) -> str:
    """The reader's word for an audit detail's key: its own (`detail_…`), a form field's
    label (`f_…`), or a general word; else the key as stored."""
    return next((ctx.t(name) for name in (f"detail_{key}", f"f_{key}", key) if name in EN), key)


def audit_details(ctx: Ctx, details: Mapping[str, Any]) -> list[tuple[str, str]]:
    """An audit entry's details as (label, value) in the page language: a known key by its
    form label ("date" → "Date", "วันที่"), an ISO date in the reader's format (Buddhist Era
    in Thai), a role or a language by its name, lists joined; the rest as stored."""
    lang = ctx.lang

    def title(key: str) -> str:
        return _detail_title(ctx, key)

    def shown(key: str, value: Any) -> str:
        if isinstance(value, Mapping):  # a record's fields before or after an edit
            return "; ".join(f"{title(k)}: {shown(k, v)}" for k, v in value.items())
        if value is None:
            return ctx.t("all_occurrences") if key == "occurrence" else "-"
        if isinstance(value, list):
            return ", ".join(shown(key, v) for v in value)
        raw = str(value)
        if ISO_DATE.fullmatch(raw):
            return format_date(dt.date.fromisoformat(raw), lang)
        if key == "role" and raw in tuple(Role):
            return ctx.t(f"role_{raw}")
        if key in ("language", "from") and raw in LANGUAGES:
            return language_name(raw, lang)
        if key == "kind":  # an agreement's kind, else an activity's
            return (AgreementKind(raw).name_in(lang) if raw in tuple(AgreementKind)
                    else label(lang, "activity", raw))
        return raw

    out = []
    for key, value in details.items():
        out.append((title(key), shown(key, value)))
    return out


@page(Role.VIEWER)
def audit(ctx: Ctx) -> Response:
    """The latest 500 changes, newest first: when, who (`cli` or an email), what, on what,
    with the details in the reader's words (audit_details)."""
    rows = entries(ctx.state.db, limit=500)
    return ctx.render("audit.html", rows=rows,
                      details=[audit_details(ctx, e.details) for e in rows])
