"""The signed-in user's own account: name, language, password."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..database import db
from ..forms import AccountForm
from ..services import set_password
from .blueprint import bp


@bp.route("/account", methods=["GET", "POST"])
def account():
    form = AccountForm(obj=current_user, user=current_user)
    if form.validate_on_submit():
        current_user.name = form.name.data
        current_user.language = form.language.data
        if form.new_password.data:
            set_password(current_user, form.new_password.data)
        db.session.commit()
        flash(_("Your account is saved."), "success")
        return redirect(url_for("core.account"))
    return render_template("core/account.html", form=form), 400 if form.errors else 200
