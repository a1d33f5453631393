"""config.toml → typed, frozen settings.

Found at `--config PATH`, else `$SISTERCITY_CONFIG`, else `./config.toml`; with none of these the
packaged defaults apply. Relative paths resolve against the config file's folder (or the current
folder for the packaged defaults). Every problem is reported as `config.toml: smtp.port: …`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import policy
from email.errors import HeaderParseError
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jobs import JOB_NAMES, JOBS
from scheduler.dates.cron import CronError, parse_crontab
from scheduler.dates.thaidate import be_year_mistake
from scheduler.errors import ConfigError
from scheduler.planning import JobSettings
from scheduler.problems import Fields, Problems, is_int, parse_toml, show
from scheduler.registry.validate import valid_email

# Upper bounds: a value past them is a typo, and some would overflow later (a date 3,000,000
# days ahead, a retry delay past datetime's range) and leave messages stuck at every run.
MAX_DAYS = 3660  # ten years
WEEK_SECONDS = 7 * 24 * 3600
MAX_TIMEOUT_SECONDS = 3600
MAX_CONNECTIONS = 100
MAX_ATTEMPTS = 100
MAX_YEARS = 100
MAX_NOTICES = 1000

DEFAULT_SCHEDULE: Mapping[str, str] = {spec.name: spec.schedule for spec in JOBS.values()}


def bundled_path(*parts: str) -> Path:
    """A file shipped with the package: in a wheel under scheduler/_data or _templates, in a
    checkout at the top of the tree (where the default config.toml points).

    `parts` is "data", "templates" (the emails') or "web" (the web app's templates) then the
    path inside it, e.g. ("data", "chiang-mai.toml"); the file is not checked to exist.
    Raises KeyError for another first part."""
    here = Path(__file__).resolve().parent
    installed = {"data": here / "_data", "templates": here / "_templates",
                 "web": here / "_web_templates"}
    checkout = {"data": here.parent / "data", "templates": here.parent / "templates" / "email",
                "web": here.parent / "templates" / "web"}
    head, *rest = parts
    base = installed[head] if installed[head].is_dir() else checkout[head]
    return base.joinpath(*rest)


@dataclass(frozen=True)
class SmtpSettings:
    """[smtp]: where and how mail is handed over. Times are in seconds; `password_env` names
    the environment variable holding the password (the file never holds it)."""

    host: str = "localhost"
    port: int = 25
    security: str = "none"
    username: str = ""
    password_env: str = "SISTERCITY_SMTP_PASSWORD"
    timeout_seconds: float = 30.0
    max_connections: int = 4
    max_attempts: int = 8
    retry_initial_seconds: int = 60
    retry_max_seconds: int = 3600
    claim_timeout_seconds: int = 300
    verify_tls: bool = True
    cafile: Path | None = None
    allow_plaintext_auth: bool = False  # AUTH over a connection without TLS (refused unless set)

    def password(self) -> str | None:
        """Read at the moment of use, from the environment only; never stored or printed."""
        return os.environ.get(self.password_env) if self.password_env else None


@dataclass(frozen=True)
class EmailSettings:
    """[email]: "file" writes .eml files to `outbox_dir`, "smtp" sends; `sender` is the
    From header ("Name <address@domain>")."""

    transport: str = "file"
    sender: str = "Chiang Mai International Affairs <intl@example.org>"
    outbox_dir: Path = Path("var/mail")
    templates_dir: Path | None = None

    @property
    def sender_address(self) -> str:
        """The bare address of `sender` ("intl@example.org")."""
        return parseaddr(self.sender)[1]

    @property
    def domain(self) -> str:
        """The sender's domain, for Message-IDs and event UIDs ("sistercity.invalid" when the
        address has none)."""
        return self.sender_address.rpartition("@")[2] or "sistercity.invalid"


@dataclass(frozen=True)
class OfficeSettings:
    """[office]: who sends (SPEC "Emails"): the office's name in English and Thai, its email
    (also the Reply-To of every email) and phone, for every email's signature."""

    name: str = "International Affairs, Chiang Mai Provincial Office"
    name_th: str = "งานวิเทศสัมพันธ์ สำนักงานจังหวัดเชียงใหม่"
    email: str = "intl@example.org"
    phone: str = ""

    def name_in(self, lang: str) -> str:
        """The office's name for a reader of `lang` ("th": `name_th`, else `name`)."""
        return self.name_th if lang == "th" and self.name_th else self.name


@dataclass(frozen=True)
class WebSettings:
    """`[web]`: the web app's public address (empty: none, no links in emails) and the name of
    the environment variable that holds its signing key (SPEC "The office web app")."""

    base_url: str = ""
    secret_env: str = "SISTERCITY_WEB_SECRET"

    def secret(self) -> str | None:
        """The signing key from the environment (None when unset or empty); never stored."""
        return os.environ.get(self.secret_env) or None

    @property
    def secure(self) -> bool:
        """Whether the app is served over https (its session cookie is then `Secure`)."""
        return self.base_url.lower().startswith("https://")


@dataclass(frozen=True)
class Settings:
    """Everything config.toml says, checked, with paths made absolute."""

    path: Path | None  # the config file, or None for the packaged defaults
    database_url: str
    data_files: tuple[Path, ...]
    email: EmailSettings
    smtp: SmtpSettings
    timezone: str
    extra_holidays: tuple[dt.date, ...]
    schedule: Mapping[str, str]
    jobs: JobSettings = field(default_factory=JobSettings)
    # Days the holidays package lists that offices do not take (SPEC "Working days").
    extra_working_days: tuple[dt.date, ...] = ()
    job_timeout_seconds: float = 600.0  # a job run past this is stopped (SPEC "Delivery")
    office: OfficeSettings = field(default_factory=OfficeSettings)
    web: WebSettings = field(default_factory=WebSettings)

    @property
    def label(self) -> str:
        """How messages name the configuration: the file's name, or "(packaged defaults)"."""
        return self.path.name if self.path else "(packaged defaults)"

    @property
    def tz(self) -> ZoneInfo:
        """`timezone` ([scheduler] timezone, an IANA name) as a tzinfo."""
        return ZoneInfo(self.timezone)


def find_config(explicit: str | None) -> Path | None:
    """The config file to read: `explicit` (--config), else $SISTERCITY_CONFIG, else
    ./config.toml when it exists; None means the packaged defaults. Not checked to exist
    (load_settings reports a missing file)."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("SISTERCITY_CONFIG")
    if env:
        return Path(env)
    local = Path("config.toml")
    return local if local.is_file() else None


def load_settings(explicit: str | None = None) -> Settings:
    """Read and check the config file that `find_config(explicit)` names.

    Raises:
        ConfigError: the file cannot be read, is not UTF-8 TOML, or has problems; the
            message lists every problem, one per line (`config.toml: smtp.port: …`).
    """
    path = find_config(explicit)
    if path is None:
        return _parse({}, label="(packaged defaults)", base=Path.cwd(), path=None)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        table = parse_toml(text)
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return _parse(table, label=str(path), base=path.resolve().parent, path=path.resolve())


def _days(section: Fields, key: str, default: tuple[int, ...]) -> tuple[int, ...]:
    """A non-empty list of lead days (whole days 0–MAX_DAYS), longest first, without repeats."""

    def check(v: Any) -> tuple[int, ...] | None:
        if not isinstance(v, list) or not v:
            return None
        if not all(is_int(d) and 0 <= d <= MAX_DAYS for d in v):
            return None
        return tuple(sorted(set(v), reverse=True))

    return section.value(key, default, check, f"a non-empty list of whole days 0–{MAX_DAYS}")


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _resolve_db_url(base: Path, url: str) -> str:
    """`sqlite:///var/x.db` is relative to the config's folder, not the current one."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        rest = url[len(prefix) :]
        if rest and rest != ":memory:" and not rest.startswith("file:"):
            return prefix + str(_resolve(base, rest))
    return url


def _parse(table: dict[str, Any], *, label: str, base: Path, path: Path | None) -> Settings:
    p = Problems(label)
    known = {"database", "data", "email", "smtp", "scheduler", "schedule", "jobs", "office", "web"}
    for key in table:
        if key not in known:
            p.add(key, "unknown section")

    database = Fields(p, "database", table.get("database"))
    url = database.text("url", "sqlite:///var/sistercity.db")
    if not (url.startswith("sqlite:") or url.startswith("postgresql")):
        p.add(
            "database.url",
            f'unsupported database "{url}" (use sqlite:/// or postgresql+psycopg://)',
        )
    database.done()

    data = Fields(p, "data", table.get("data"))
    default_files = [str(bundled_path("data", "chiang-mai.toml"))]

    def check_files(v: Any) -> list[str] | None:
        return v if isinstance(v, list) and all(isinstance(f, str) for f in v) else None

    files = data.value("files", default_files, check_files, "a list of file paths")
    data.done()

    email = _parse_email(p, table.get("email"), base)
    smtp = _parse_smtp(p, table.get("smtp"), base)
    office = _parse_office(p, table.get("office"), email.sender_address)

    sched = Fields(p, "scheduler", table.get("scheduler"))
    tz = sched.text("timezone", "Asia/Bangkok")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        p.add("scheduler.timezone", f'unknown time zone "{tz}"')
        tz = "Asia/Bangkok"

    def check_dates(v: Any) -> tuple[dt.date, ...] | None:
        ok = isinstance(v, list) and all(
            isinstance(d, dt.date) and not isinstance(d, dt.datetime) for d in v
        )
        return tuple(v) if ok else None

    no_dates: tuple[dt.date, ...] = ()
    extra = sched.value("extra_holidays", no_dates, check_dates, "a list of TOML dates")
    open_days = sched.value("extra_working_days", no_dates, check_dates, "a list of TOML dates")
    for key, days in (("extra_holidays", extra), ("extra_working_days", open_days)):
        for day in days:  # TOML dates are CE, as in dataset files (SPEC "Dataset file")
            mistake = be_year_mistake(day)
            if mistake:
                sched.problem(key, mistake)
    job_timeout = sched.value("job_timeout_seconds", 600.0, _check_job_timeout,
                              f"a number of seconds from {JOB_TIMEOUT_RANGE[0]} to "
                              f"{JOB_TIMEOUT_RANGE[1]:.0f}")
    sched.done()

    schedule = _parse_schedule(p, table.get("schedule"))
    jobs = _parse_jobs(p, table.get("jobs"))
    web = _parse_web(p, table.get("web"))

    p.raise_if_any(ConfigError)
    return Settings(
        path=path,
        database_url=_resolve_db_url(base, url),
        data_files=tuple(_resolve(base, f) for f in files),
        email=email, smtp=smtp, timezone=tz, extra_holidays=extra, schedule=schedule, jobs=jobs,
        extra_working_days=open_days,
        job_timeout_seconds=job_timeout,
        office=office,
        web=web,
    )


# scheduler.job_timeout_seconds: below a second only for tests; a day at most (a run that long
# is stuck, and a bigger number would overflow the waits that use it).
JOB_TIMEOUT_RANGE = (0.1, 86_400.0)


def _check_job_timeout(v: Any) -> float | None:
    """A number of seconds within JOB_TIMEOUT_RANGE (booleans are not numbers here)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    low, high = JOB_TIMEOUT_RANGE
    return float(v) if low <= v <= high else None


def _parse_email(p: Problems, raw: Any, base: Path) -> EmailSettings:
    s = Fields(p, "email", raw)
    transport = s.choice("transport", "file", ("file", "smtp"))
    sender = s.text("from", EmailSettings.sender)
    if not _valid_sender(sender):
        p.add("email.from", f'expected "Name <address@domain>", got {show(sender)}')
    outbox = s.text("outbox_dir", "var/mail")
    templates = s.text("templates_dir", "")
    if templates and not _resolve(base, templates).is_dir():
        p.add("email.templates_dir", f"no such folder: {_resolve(base, templates)}")
    s.done()
    return EmailSettings(
        transport=transport,
        sender=sender,
        outbox_dir=_resolve(base, outbox),
        templates_dir=_resolve(base, templates) if templates else None,
    )


def _parse_office(p: Problems, raw: Any, sender_address: str) -> OfficeSettings:
    """[office]; `email` defaults to the sender's address. Text is one line: a name with a
    control character would break the signature's layout (and is a typo)."""
    s = Fields(p, "office", raw)
    d = OfficeSettings()
    values = {key: s.text(key, getattr(d, key)).strip() for key in ("name", "name_th", "phone")}
    email = s.text("email", sender_address or d.email).strip()
    for key, value in (*values.items(), ("email", email)):
        if any(ch < " " or ch == "\x7f" for ch in value):
            s.problem(key, f"control characters are not allowed, got {show(value)}")
    if not values["name"]:
        s.problem("name", "missing (the office's name signs every email)")
    if not valid_email(email):
        s.problem("email", f"expected an email address, got {show(email)}")
    s.done()
    return OfficeSettings(email=email, **values)


def _valid_sender(sender: str) -> bool:
    """Whether a From header value is one plain ASCII address, with or without a display
    name, that the email package reads back without a defect (a space inside the address,
    a non-ASCII domain or a second address would fail at every send instead)."""
    if "\r" in sender or "\n" in sender:
        return False
    if not valid_email(parseaddr(sender)[1]):
        return False
    try:
        header = policy.default.header_factory("From", sender)
    except (HeaderParseError, IndexError, ValueError, AttributeError, TypeError):
        return False  # the email package fails in assorted ways on odd input (":;0")
    addresses: tuple[Any, ...] = getattr(header, "addresses", ())
    groups: tuple[Any, ...] = getattr(header, "groups", ())
    return (
        not header.defects and len(addresses) == 1
        and all(group.display_name is None for group in groups)  # From takes no group
        and addresses[0].addr_spec == parseaddr(sender)[1] and valid_email(addresses[0].addr_spec)
    )


def _parse_smtp(p: Problems, raw: Any, base: Path) -> SmtpSettings:
    s = Fields(p, "smtp", raw)
    d = SmtpSettings()
    port = s.integer("port", d.port, minimum=1)
    if port > 65535:
        p.add("smtp.port", f"expected a port number 1–65535, got {port}")
    cafile = s.text("cafile", "")
    if cafile and not _resolve(base, cafile).is_file():
        p.add("smtp.cafile", f"no such file: {_resolve(base, cafile)}")
    result = SmtpSettings(
        host=s.text("host", d.host),
        port=port,
        security=s.choice("security", d.security, ("none", "starttls", "tls")),
        username=s.text("username", d.username),
        password_env=s.text("password_env", d.password_env),
        timeout_seconds=float(s.integer(
            "timeout_seconds", int(d.timeout_seconds), minimum=1, maximum=MAX_TIMEOUT_SECONDS
        )),
        max_connections=s.integer(
            "max_connections", d.max_connections, minimum=1, maximum=MAX_CONNECTIONS
        ),
        max_attempts=s.integer("max_attempts", d.max_attempts, minimum=1, maximum=MAX_ATTEMPTS),
        retry_initial_seconds=s.integer(
            "retry_initial_seconds", d.retry_initial_seconds, maximum=WEEK_SECONDS
        ),
        retry_max_seconds=s.integer("retry_max_seconds", d.retry_max_seconds, maximum=WEEK_SECONDS),
        claim_timeout_seconds=s.integer(
            "claim_timeout_seconds", d.claim_timeout_seconds, minimum=1, maximum=WEEK_SECONDS
        ),
        verify_tls=s.boolean("verify_tls", d.verify_tls),
        cafile=_resolve(base, cafile) if cafile else None,
        allow_plaintext_auth=s.boolean("allow_plaintext_auth", d.allow_plaintext_auth),
    )
    if result.username and result.security == "none" and not result.allow_plaintext_auth:
        p.add(
            "smtp.username",
            'with security = "none" the password would cross the network in clear: use '
            '"starttls" or "tls", or set smtp.allow_plaintext_auth = true to accept that',
        )
    if s.has("password"):
        p.add(
            "smtp.password",
            "the password is never kept in the file: set password_env "
            "to the name of an environment variable that holds it",
        )
    s.done()
    return result


def _parse_schedule(p: Problems, raw: Any) -> dict[str, str]:
    s = Fields(p, "schedule", raw)
    schedule = dict(DEFAULT_SCHEDULE)
    for job in JOB_NAMES:
        expr = s.text(job, DEFAULT_SCHEDULE[job])
        try:
            parse_crontab(expr)
        except CronError as exc:
            p.add(f"schedule.{job}", str(exc))
            continue
        schedule[job] = expr
    s.done()
    return schedule


def _parse_jobs(p: Problems, raw: Any) -> JobSettings:
    jobs = Fields(p, "jobs", raw)
    d = JobSettings()
    ann = Fields(p, "jobs.anniversaries", jobs.raw("anniversaries"))
    bud = Fields(p, "jobs.budget-deadlines", jobs.raw("budget-deadlines"))
    dor = Fields(p, "jobs.dormant-partners", jobs.raw("dormant-partners"))
    mee = Fields(p, "jobs.meeting-agendas", jobs.raw("meeting-agendas"))
    esc = Fields(p, "jobs.escalation", jobs.raw("escalation"))
    result = JobSettings(
        anniversary_lead_days=_days(ann, "lead_days", d.anniversary_lead_days),
        deadline_lead_days=_days(bud, "lead_days", d.deadline_lead_days),
        dormant_after_days=dor.integer(
            "after_days", d.dormant_after_days, minimum=1, maximum=MAX_DAYS
        ),
        dormant_repeat_days=dor.integer(
            "repeat_days", d.dormant_repeat_days, minimum=1, maximum=MAX_DAYS
        ),
        meeting_lead_days=_days(mee, "lead_days", d.meeting_lead_days),
        meeting_horizon_days=mee.integer(
            "horizon_days", d.meeting_horizon_days, maximum=MAX_DAYS
        ),
        loi_review_years=mee.integer("loi_review_years", d.loi_review_years, maximum=MAX_YEARS),
        # SPEC "The way back": the notice of a dormant spell that also reaches the heads.
        escalation_after_notices=esc.integer(
            "after_notices", d.escalation_after_notices, minimum=1, maximum=MAX_NOTICES
        ),
    )
    for section in (jobs, ann, bud, dor, mee, esc):
        section.done()
    return result


def _parse_web(p: Problems, raw: Any) -> WebSettings:
    """`[web]`: base_url empty or an http(s) URL; secret_env a variable name."""
    s = Fields(p, "web", raw)
    base_url = s.text("base_url", "").rstrip("/")
    if base_url and not base_url.lower().startswith(("http://", "https://")):
        p.add("web.base_url", f"expected an http:// or https:// URL, got {show(base_url)}")
    secret_env = s.text("secret_env", WebSettings.secret_env)
    if not secret_env.replace("_", "").isalnum():
        p.add("web.secret_env", f"expected an environment variable name, got {show(secret_env)}")
    s.done()
    return WebSettings(base_url=base_url, secret_env=secret_env)
