"""`reelhouse users`: the people who sign in to the web app (the first admin, resets, listing)."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from backend.cli.common import announce_database, prepare_write

users_app = typer.Typer(help="People who sign in to the web app.", no_args_is_help=True)


def _password(given: str | None) -> str:
    if given:
        return given
    first = getpass.getpass("password (at least 8 characters): ")
    if first != getpass.getpass("again: "):
        raise typer.BadParameter("the two passwords differ")
    return first


def _create(username: str, password: str | None, role: str, display_name: str | None) -> None:
    from backend.auth.models import Role
    from backend.auth.users import create_user
    from backend.db import session_scope
    from backend.errors import AppError

    try:
        chosen = Role(role)
    except ValueError:
        raise typer.BadParameter("--role is viewer, editor or admin") from None
    prepare_write()
    try:
        with session_scope() as session:
            user = create_user(session, username=username, password=_password(password), role=chosen,
                               display_name=display_name)
    except AppError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"created {user.role} {user.username!r}: sign in at {_signin_url()}")


def _signin_url() -> str:
    from backend.config import get_settings

    return get_settings().public_url.rstrip("/") + "/"


@users_app.command("create-admin")
def create_admin(
    username: Annotated[str, typer.Argument(help="The user name to sign in with")] = "admin",
    password: Annotated[str | None, typer.Option(help="Default: asked for (not echoed)", envvar="REELHOUSE_ADMIN_PASSWORD")] = None,
    display_name: Annotated[str | None, typer.Option(help="Shown in the app; default: the user name")] = None,
) -> None:
    """Create an admin who signs in to the web app (the first one, or another)."""
    _create(username, password, "admin", display_name)


@users_app.command("create")
def create(
    username: str,
    role: Annotated[str, typer.Option(help="viewer | editor | admin")] = "editor",
    password: Annotated[str | None, typer.Option(help="Default: asked for (not echoed)")] = None,
    display_name: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create a person (admins can also do it in the app)."""
    _create(username, password, role, display_name)


@users_app.command("list")
def list_cmd() -> None:
    """List the people who can sign in."""
    from backend.auth.users import list_users
    from backend.db import session_scope

    announce_database()
    with session_scope() as session:
        for user in list_users(session):
            state = "disabled" if user.disabled_at else "active"
            typer.echo(f"{user.id}  {user.username:<20} {user.role:<7} {state:<8} {user.display_name}")


@users_app.command("set-password")
def set_password(
    username: str,
    password: Annotated[str | None, typer.Option(help="Default: asked for (not echoed)")] = None,
) -> None:
    """Set a person's password (their sessions end); also re-enables nobody: use the app for that."""
    from backend.auth.users import UserChanges, find_user, update_user
    from backend.db import session_scope
    from backend.errors import AppError

    prepare_write()
    try:
        with session_scope() as session:
            user = find_user(session, username)
            if user is None:
                typer.echo(f"error: no user {username!r}", err=True)
                raise typer.Exit(1)
            update_user(session, user, UserChanges(password=_password(password)))
    except AppError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo("password set; their sessions have ended")


def has_users() -> bool:
    from sqlmodel import select

    from backend.auth.models import User
    from backend.db import session_scope

    with session_scope() as session:
        return session.exec(select(User.id)).first() is not None
