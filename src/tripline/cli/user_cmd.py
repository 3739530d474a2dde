"""`tripline user add|list|disable|enable|remove|set-roles|reset-password`:
console users (people). Every change is audited with the operator's name;
disabling, removing or resetting a user ends their sessions at once."""

from __future__ import annotations

import getpass
import json
import sys
from typing import Annotated

import typer

from tripline.cli.common import DbOpt, HomeOpt, err_console, fail
from tripline.cli.serve_cmd import RolesOpt, open_store_audit

user_app = typer.Typer(help="Console users (people).", no_args_is_help=True)

ActorOpt = Annotated[str, typer.Option("--actor", help="Who is making the change (recorded in the audit log).")]
StdinOpt = Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")]


def _read_password(from_stdin: bool) -> str:
    return sys.stdin.readline().rstrip("\n") if from_stdin else getpass.getpass("Password: ")


def _change(home, db, what: str, fn) -> None:
    from tripline.service.auth import Accounts

    store, log = open_store_audit(home, db)
    try:
        fn(Accounts(store.engine, log))
    except (ValueError, LookupError) as exc:
        fail(str(exc).strip("'\""))
    finally:
        store.close()
    err_console.print(what)


@user_app.command("add")
def user_add(
    username: str,
    roles: RolesOpt,
    home: HomeOpt = None,
    db: DbOpt = None,
    password_stdin: StdinOpt = False,
    actor: ActorOpt = "cli",
) -> None:
    """Add a console user (password asked for, or read from stdin)."""
    password = _read_password(password_stdin)
    _change(home, db, f"user {username} added", lambda a: a.add_user(username, password, roles, actor=f"cli:{actor}"))


@user_app.command("list")
def user_list(home: HomeOpt = None, db: DbOpt = None) -> None:
    """One JSON line per user: name, roles, disabled (never password hashes)."""
    from tripline.service.auth import Accounts

    store, log = open_store_audit(home, db)
    try:
        for u in Accounts(store.engine, log).users():
            print(json.dumps({"username": u["username"], "roles": u["roles"], "disabled": u["disabled"]}))
    finally:
        store.close()


@user_app.command("disable")
def user_disable(username: str, home: HomeOpt = None, db: DbOpt = None, actor: ActorOpt = "cli") -> None:
    """Disable a user: no login, and their open sessions end now."""
    _change(home, db, f"user {username} disabled", lambda a: a.set_disabled(username, True, actor=f"cli:{actor}"))


@user_app.command("enable")
def user_enable(username: str, home: HomeOpt = None, db: DbOpt = None, actor: ActorOpt = "cli") -> None:
    """Re-enable a disabled user."""
    _change(home, db, f"user {username} enabled", lambda a: a.set_disabled(username, False, actor=f"cli:{actor}"))


@user_app.command("remove")
def user_remove(username: str, home: HomeOpt = None, db: DbOpt = None, actor: ActorOpt = "cli") -> None:
    """Remove a user (their audit history stays)."""
    _change(home, db, f"user {username} removed", lambda a: a.remove_user(username, actor=f"cli:{actor}"))


@user_app.command("set-roles")
def user_set_roles(
    username: str, roles: RolesOpt, home: HomeOpt = None, db: DbOpt = None, actor: ActorOpt = "cli"
) -> None:
    """Replace a user's roles."""
    _change(home, db, f"user {username} roles set", lambda a: a.set_roles(username, roles, actor=f"cli:{actor}"))


@user_app.command("reset-password")
def user_reset_password(
    username: str, home: HomeOpt = None, db: DbOpt = None, password_stdin: StdinOpt = False, actor: ActorOpt = "cli"
) -> None:
    """Set a new password (asked for, or from stdin); the user's sessions end."""
    password = _read_password(password_stdin)
    _change(
        home,
        db,
        f"user {username} password reset",
        lambda a: a.reset_password(username, password, actor=f"cli:{actor}"),
    )


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
