"""Registration, login, logout, password change and (for admins) user management."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user
from flask_login.config import COOKIE_NAME
from sqlalchemy import select
from werkzeug.wrappers import Response

from partnermatch.auth import services
from partnermatch.auth.decorators import admin_required, is_safe_local_url
from partnermatch.auth.forms import (
    AccountActiveForm,
    ChangePasswordForm,
    CreateUserForm,
    LoginForm,
    RegistrationForm,
    RevokeTokenForm,
    TokenForm,
)
from partnermatch.auth.models import User
from partnermatch.auth.tokens import ApiToken, create_token, revoke, tokens_of
from partnermatch.errors import ValidationError
from partnermatch.extensions import db, limiter
from partnermatch.forms import show_validation_error
from partnermatch.pagination import page_number

bp = Blueprint("auth", __name__)


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["REGISTER_RATE_LIMIT"], methods=["POST"], key_func=get_remote_address
)
def register() -> str | Response:
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = RegistrationForm()
    if form.validate_on_submit():
        try:
            user = services.register(
                form.email.data, form.password.data, form.display_name.data, form.role.data
            )
        except ValidationError as error:
            db.session.rollback()
            show_validation_error(form, error)
        else:
            db.session.commit()
            login_user(user)
            flash(_("Welcome to PartnerMatch. Start by describing your organisation."), "success")
            return redirect(url_for("profiles.new"))
    return render_template("auth/register.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"], key_func=get_remote_address
)
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            form.form_errors.append(_("The email or the password is wrong."))
        else:
            login_user(user, remember=form.remember.data)
            flash(_("Logged in as %(name)s.", name=user.display_name), "success")
            target = request.args.get("next")
            return redirect(target if is_safe_local_url(target) else url_for("main.index"))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout() -> Response:
    # Every session of the account ends, on every device, with its remember cookies.
    services.end_sessions(current_user)
    db.session.commit()
    logout_user()
    flash(_("You have logged out."), "info")
    return redirect(url_for("main.index"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> str | Response:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(
                current_user, form.current_password.data, form.new_password.data
            )
        except ValidationError as error:
            db.session.rollback()
            show_validation_error(form, error)
        else:
            db.session.commit()
            # The change ended every session, this one too: carry on under the new version,
            # remembered on this device if it was.
            remembered = (
                current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME) in request.cookies
            )
            login_user(current_user._get_current_object(), remember=remembered)
            flash(
                _("Your password has been changed. Your other sessions have been logged out."),
                "success",
            )
            return redirect(url_for("main.index"))
    return render_template("auth/change_password.html", form=form)


@bp.route("/users", methods=["GET", "POST"])
@admin_required
def users() -> str | Response:
    form = CreateUserForm()
    if form.validate_on_submit():
        try:
            user = services.create_user(
                form.email.data, form.password.data, form.display_name.data, form.role.data
            )
        except ValidationError as error:
            db.session.rollback()
            show_validation_error(form, error)
        else:
            db.session.commit()
            flash(
                _(
                    "Created the %(role)s account %(email)s.",
                    role=_(user.role.label),
                    email=user.email,
                ),
                "success",
            )
            return redirect(url_for("auth.users"))
    page = page_number(request.args)
    accounts = db.paginate(
        select(User).order_by(User.created_at.desc(), User.id.desc()),
        page=page,
        per_page=current_app.config["USERS_PER_PAGE"],
        error_out=False,
    )
    return render_template("auth/users.html", form=form, accounts=accounts)


@bp.post("/users/<id:user_id>/active")
@admin_required
def set_account_active(user_id: int) -> Response:
    user = db.get_or_404(User, user_id)
    form = AccountActiveForm()
    if form.validate_on_submit():
        try:
            services.set_active(user, form.active.data == "1", actor=current_user)
        except ValidationError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
            if user.active:
                flash(_("%(email)s can log in again.", email=user.email), "success")
            else:
                flash(
                    _("%(email)s is deactivated and logged out everywhere.", email=user.email),
                    "success",
                )
    return redirect(url_for("auth.users"))


@bp.route("/account/tokens", methods=["GET", "POST"])
@login_required
def api_tokens() -> str | Response:
    form = TokenForm()
    new_secret = None
    if form.validate_on_submit():
        try:
            _token, new_secret = create_token(current_user, form.name.data)
        except ValidationError as error:
            db.session.rollback()
            show_validation_error(form, error)
        else:
            db.session.commit()
            form.name.data = ""
    return render_template(
        "auth/tokens.html",
        form=form,
        tokens=tokens_of(current_user),
        new_secret=new_secret,
        revoke_form=RevokeTokenForm(),
    )


@bp.post("/account/tokens/<id:token_id>/revoke")
@login_required
def revoke_api_token(token_id: int) -> Response:
    token = db.get_or_404(ApiToken, token_id)
    if token.user_id != current_user.id:
        abort(404)
    RevokeTokenForm().validate_on_submit()
    revoke(token)
    db.session.commit()
    flash(_("The token “%(name)s” is revoked.", name=token.name), "success")
    return redirect(url_for("auth.api_tokens"))
