"""``grappe tokens``: API bearer tokens of an account."""

from __future__ import annotations

import click
from sqlalchemy import select

from ..database import db
from .base import GrappeGroup, cli, user_or_fail, with_app


@cli.group(cls=GrappeGroup)
def tokens():
    """API bearer tokens."""


@tokens.command("create")
@click.argument("email")
@click.option("--label", default="")
@with_app
def tokens_create(email, label):
    """Create an API token for a user; it is shown once."""
    from ..auth import new_api_token

    token = new_api_token(user_or_fail(email), label)
    db.session.commit()
    click.echo(token)


@tokens.command("list")
@click.argument("email")
@with_app(read_only=True)
def tokens_list(email):
    """List a user's tokens (never their values)."""
    from ..models import ApiToken

    user = user_or_fail(email)
    for t in db.session.execute(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)).scalars():
        state = "revoked" if t.revoked else "active"
        used = t.last_used_at.isoformat(timespec="minutes") if t.last_used_at else "never used"
        click.echo(f"{t.id:6} {state:8} {t.created_at:%Y-%m-%d} {used:20} {t.label}")


@tokens.command("revoke")
@click.argument("email")
@click.option("--id", "token_id", type=int, help="Revoke this token only (see 'grappe tokens list').")
@with_app
def tokens_revoke(email, token_id):
    """Revoke a user's API tokens (all of them, or one with --id)."""
    from ..services import AccountError, revoke_tokens

    try:
        count = revoke_tokens(user_or_fail(email), token_id)
    except AccountError as exc:
        raise click.ClickException(str(exc))
    db.session.commit()
    click.echo(f"Revoked {count} token(s) of {email}.")
