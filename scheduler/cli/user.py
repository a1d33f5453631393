"""`sistercity user add | list | remove`: the web app's staff accounts (logic:
scheduler.services.users). Parse, call, print.

Only click and scheduler.cli.common are imported at load time, so that `sistercity --help`
stays fast; each command imports its service when it runs (lazy for that reason only).
"""

from __future__ import annotations

import sys

import click

from scheduler.cli.common import Context, fail, pass_ctx, print_table


@click.group()
def user() -> None:
    """The web app's staff accounts."""


def _read_password() -> str:
    """The password: prompted for (twice, hidden) on a terminal, else the first line of
    standard input without its line ending (SPEC: "one line from standard input")."""
    if sys.stdin.isatty():
        entered: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        return entered
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@user.command("add")
@click.argument("email")
@click.option("--name", required=True, help="The person's name, as pages show it.")
@click.option("--role", default="staff", show_default=True,
              help="admin (also manages accounts), staff, or viewer (changes nothing).")
@click.option("--language", default="th", show_default=True, help="th or en: the pages' language.")
@pass_ctx
def user_add(c: Context, email: str, name: str, role: str, language: str) -> None:
    """Add an account for EMAIL; the password is read as one line from standard input (or
    prompted for on a terminal)."""
    from scheduler.services.users import add_user  # lazy: keeps --help fast

    if role not in ("admin", "staff", "viewer"):  # before the password is asked for
        fail(f'--role: "{role}" is not one of admin, staff, viewer')
    if language not in ("th", "en"):
        fail(f'--language: "{language}" is not one of th, en')
    password = _read_password()
    done = add_user(c.database(), email, name=name, password=password, role=role,
                    language=language, by=c.actor())
    click.echo(f"added: {done.email} ({done.role.value}, {done.language})")


@user.command("list")
@pass_ctx
def user_list(c: Context) -> None:
    """List the accounts."""
    from scheduler.services.users import list_users  # lazy: keeps --help fast

    rows = list_users(c.database())
    print_table("Accounts", ("email", "name", "role", "language"),
                [(a.email, a.name, a.role.value, a.language) for a in rows],
                keep=("email", "role"))


@user.command("remove")
@click.argument("email")
@pass_ctx
def user_remove(c: Context, email: str) -> None:
    """Remove the account of EMAIL."""
    from scheduler.services.users import remove_user  # lazy: keeps --help fast

    done = remove_user(c.database(), email, by=c.actor())
    click.echo(f"removed: {done.email}")


COMMANDS = (user,)
