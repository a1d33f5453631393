"""Staff accounts of the web app (SPEC "The office web app"): add, list, remove, and check a
password at sign-in.

Passwords are stored as argon2id hashes (argon2-cffi's defaults, RFC 9106); the password itself
is never stored or logged. Adding and removing an account are audited like registry changes
(scheduler.services.audit), with who did it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select

from scheduler.db.database import Database
from scheduler.db.models import AccountRow
from scheduler.errors import UserError
from scheduler.registry.validate import unsafe_text, valid_email
from scheduler.services.audit import Actor, AuditAction, record

_HASHER = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters
# Verified against when the email is unknown, so that a wrong email takes as long as a wrong
# password and the timing does not tell which accounts exist.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


class Role(StrEnum):
    """What an account may do: an admin also manages accounts; staff change the registry and
    the outbox; a viewer changes nothing."""

    ADMIN = "admin"
    STAFF = "staff"
    VIEWER = "viewer"

    @property
    def may_change(self) -> bool:
        """Whether this role may change anything (every POST but signing in and out)."""
        return self is not Role.VIEWER


LANGUAGES = ("th", "en")


@dataclass(frozen=True)
class Account:
    """One account as listed: email (lower case), name, role, language (th | en), and when it
    was made (aware UTC)."""

    email: str
    name: str
    role: Role
    language: str
    created_at: dt.datetime


def _account(row: AccountRow) -> Account:
    return Account(row.email, row.name, Role(row.role), row.language, row.created_at)


def normal_email(email: str) -> str:
    """The form an account's email is stored and looked up in: stripped, lower case."""
    return email.strip().lower()


def add_user(db: Database, email: str, *, name: str, password: str, role: str = "staff",
             language: str = "th", by: Actor) -> Account:
    """Make an account. UserError (naming the field) for an invalid email, role or language,
    an empty or unsafe name, an empty password, or an email that already has an account; then
    nothing is stored. The password is hashed with argon2id; the audit entry has no secret."""
    email = normal_email(email)
    if not valid_email(email):
        raise UserError(f'EMAIL: "{email}" is not an email address (name@example.org)')
    if role not in tuple(Role):
        raise UserError(f'--role: "{role}" is not one of admin, staff, viewer')
    if language not in LANGUAGES:
        raise UserError(f'--language: "{language}" is not one of th, en')
    problem = unsafe_text(name)
    if problem or not name.strip():
        raise UserError(f"--name: {problem or 'must not be empty'}")
    if not password:
        raise UserError("password: must not be empty")
    hashed = _HASHER.hash(password)
    with db.write(lock="accounts") as session:
        if session.get(AccountRow, email) is not None:
            raise UserError(f"{email}: an account with this email exists already "
                            "(`sistercity user remove` it first)")
        row = AccountRow(email=email, name=name.strip(), role=role, language=language,
                         password_hash=hashed, created_at=by.at)
        session.add(row)
        record(session, by, AuditAction.ADD_ACCOUNT, email,
               {"name": row.name, "role": role, "language": language})
    return _account(row)


def list_users(db: Database) -> list[Account]:
    """Every account, by email."""
    with db.read() as session:
        return [_account(r) for r in session.scalars(select(AccountRow).order_by(AccountRow.email))]


def get_user(db: Database, email: str) -> Account | None:
    """The account with this email (any case), or None."""
    with db.read() as session:
        row = session.get(AccountRow, normal_email(email))
        return _account(row) if row is not None else None


def remove_user(db: Database, email: str, *, by: Actor) -> Account:
    """Remove an account (its sessions end at their next request). UserError when there is
    no such account."""
    email = normal_email(email)
    with db.write(lock="accounts") as session:
        row = session.get(AccountRow, email)
        if row is None:
            raise UserError(f"{email}: no such account (see `sistercity user list`)")
        gone = _account(row)
        session.delete(row)
        record(session, by, AuditAction.REMOVE_ACCOUNT, email,
               {"name": gone.name, "role": gone.role.value})
    return gone


def set_language(db: Database, email: str, language: str, *, by: Actor) -> Account:
    """Store `language` ("th" or "en") as the account's page language (SPEC "The office web
    app": Thai or English, each user's choice); the account's next page is in it. Audited
    (set-language) only when it changes. UserError naming the field for another language or
    an unknown account; then nothing is stored."""
    if language not in LANGUAGES:
        raise UserError(f'--language: "{language}" is not one of th, en')
    email = normal_email(email)
    with db.write(lock="accounts") as session:
        row = session.get(AccountRow, email)
        if row is None:
            raise UserError(f"{email}: no such account (see `sistercity user list`)")
        if row.language != language:
            record(session, by, AuditAction.SET_LANGUAGE, email,
                   {"from": row.language, "language": language})
            row.language = language
        return _account(row)


def authenticate(db: Database, email: str, password: str) -> Account | None:
    """The account when `password` is its password, else None (unknown email included, in
    about the same time). A hash made with older parameters is upgraded on success."""
    email = normal_email(email)
    with db.read() as session:
        row = session.get(AccountRow, email)
        stored = row.password_hash if row is not None else _DUMMY_HASH
    try:
        _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _HASHER.check_needs_rehash(stored):
        with db.write(lock="accounts") as session:
            fresh = session.get(AccountRow, email)
            if fresh is not None:
                fresh.password_hash = _HASHER.hash(password)
    return _account(row)
