"""Sign-in (with the login throttle) and sign-out."""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import login_required, login_user, logout_user

from .. import auth
from ..audit import record
from ..auth import public
from ..database import db
from ..forms import LoginForm
from ..inputs import safe_next
from ..lookups import user_by_email
from .blueprint import bp


def _wait_message(seconds: int) -> str:
    return ngettext("Too many attempts: try again in %(num)s second.",
                    "Too many attempts: try again in %(num)s seconds.", seconds)


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        address = request.remote_addr or "unknown"
        now = auth.throttle_now()
        user = user_by_email(email)
        wait = auth.login_refusal(email, address, user, now=now)
        if wait:
            # refused before the password is even checked: guessing gets nothing, and the
            # answer is the same whether an account has this e-mail or not
            form.password.errors.append(_wait_message(wait))
            response = make_response(render_template("core/login.html", form=form), 429)
            response.headers["Retry-After"] = str(wait)
            return response
        if user is None:
            auth.check_password(None, form.password.data)  # same work as for an account: no e-mail probing by timing
        if user is None or not user.active or not auth.check_password(user, form.password.data):
            wait = auth.register_login_failure(email, address, user, now=now)
            form.password.errors.append(_("Wrong e-mail or password."))
            if wait:
                form.password.errors.append(_wait_message(wait))
            return render_template("core/login.html", form=form), 401
        auth.register_login_success(user, email)
        record("login", object_type="core.user", object_id=user.id, summary=user.email, user_id=user.id)
        db.session.commit()
        login_user(user, remember=form.remember.data)
        return redirect(safe_next(request.args.get("next")) or url_for("core.home"))
    return render_template("core/login.html", form=form), 400 if form.errors else 200


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("core.login"))
