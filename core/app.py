"""The application factory."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from types import ModuleType
from typing import Iterable

from flask import Blueprint, Flask, g, has_request_context, jsonify, render_template, request
from flask_babel import Babel
from flask_login import current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.middleware.proxy_fix import ProxyFix

from . import auth, builtin, inputs
from .api import API_PREFIX, ApiBlueprint, ClusterBlueprint
from .database import db, default_database_url, request_transaction, unique_violation_errors
from .modules import ModuleCache, enabled_modules, modules_version_subquery
from .plugins import PluginHost

csrf = CSRFProtect()

LANGUAGES = ("en", "fr")


def _secret_key(instance_path: str, *, create: bool = True) -> str:
    """GRAPPE_SECRET_KEY, else a random key kept in the instance folder (never a default).

    With ``create=False`` (a command that only reads) a missing key file is not written:
    the app gets a throwaway key, which signs nothing that outlives the command.
    """
    key = os.environ.get("GRAPPE_SECRET_KEY")
    if key:
        return key
    path = Path(instance_path) / "secret_key"
    if not path.exists() and not create:
        return secrets.token_hex(32)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def create_app(test_config: dict | None = None, plugins: Iterable[ModuleType | str] | None = None) -> Flask:
    """Create a Grappe app: config, database, plugins, blueprints, gate.

    :param test_config: settings that override the environment.
    :param plugins: plugin modules to load instead of the ``grappe.plugins`` entry points.

    With ``READ_ONLY=True`` in ``test_config`` (the read-only commands) the app creates no
    file: no instance folder, no secret key file, no job queue file.
    """
    instance = os.path.abspath(os.environ.get("GRAPPE_INSTANCE", "instance"))
    app = Flask(__name__, instance_path=instance, instance_relative_config=True)
    app.url_map.converters["int"] = inputs.IdConverter  # before any rule: ids fit an INTEGER column
    read_only = bool((test_config or {}).get("READ_ONLY"))
    if not read_only:
        Path(instance).mkdir(parents=True, exist_ok=True)
    app.config.update(
        DATABASE_URL=os.environ.get("GRAPPE_DATABASE_URL") or default_database_url(instance),
        REDIS_URL=os.environ.get("GRAPPE_REDIS_URL", ""),
        SMTP_URL=os.environ.get("GRAPPE_SMTP_URL", ""),
        MAIL_FROM=os.environ.get("GRAPPE_MAIL_FROM", "grappe@localhost"),
        BASE_URL=os.environ.get("GRAPPE_BASE_URL", ""),
        JOBS_IMMEDIATE=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("GRAPPE_INSECURE_COOKIES", "") != "1",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=os.environ.get("GRAPPE_INSECURE_COOKIES", "") != "1",
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=60 * 1024 * 1024,
        BABEL_DEFAULT_LOCALE="en",
        PAGE_SIZE=50,
        # sign-in throttling (core.auth): failures/seconds per e-mail and per address, longest wait
        LOGIN_ACCOUNT_LIMIT=os.environ.get("GRAPPE_LOGIN_ACCOUNT_LIMIT") or auth.THROTTLE_DEFAULTS["LOGIN_ACCOUNT_LIMIT"],
        LOGIN_ADDRESS_LIMIT=os.environ.get("GRAPPE_LOGIN_ADDRESS_LIMIT") or auth.THROTTLE_DEFAULTS["LOGIN_ADDRESS_LIMIT"],
        LOGIN_FIRST_DELAY=auth.THROTTLE_DEFAULTS["LOGIN_FIRST_DELAY"],
        LOGIN_MAX_DELAY=os.environ.get("GRAPPE_LOGIN_MAX_DELAY") or auth.THROTTLE_DEFAULTS["LOGIN_MAX_DELAY"],
        # proxies in front that append to X-Forwarded-For (nginx: 1); 0 trusts no such header
        PROXY_COUNT=os.environ.get("GRAPPE_PROXY_COUNT") or 0,
    )
    if test_config:
        app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(instance, create=not read_only)
    auth.throttle_rules(app.config)  # a malformed setting stops the start, not the first sign-in
    proxies = str(app.config["PROXY_COUNT"])
    if not proxies.isdigit():
        raise ValueError(f"GRAPPE_PROXY_COUNT must be a number of proxies (0, 1...), not {proxies!r}")
    if int(proxies):
        # the client's address (request.remote_addr, which sign-in throttling counts by) is
        # the one the last trusted proxy saw, not the proxy's own
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=int(proxies))

    db.init_app(app)
    host = PluginHost(explicit=plugins, core_plugins=[builtin])
    app.extensions["grappe.host"] = host
    app.extensions["grappe.modules"] = ModuleCache()
    app.extensions["grappe.permissions"] = permissions = {}
    for plugin_name, perms in host.call_loading("grappe_permissions"):
        if not isinstance(perms, (list, tuple)) or not all(isinstance(p, auth.Permission) for p in perms):
            host.mark_broken(plugin_name, "grappe_permissions must return a list of core.Permission")
            continue
        foreign = [p.name for p in perms if plugin_name in host.plugins and not p.name.startswith(f"{plugin_name}.")]
        if foreign:
            host.mark_broken(plugin_name, f"declares the permission '{foreign[0]}': "
                                          f"its permissions must be named '{plugin_name}.<action>'")
            continue
        permissions.update((p.name, p) for p in perms)

    translation_dirs = [str(Path(__file__).parent / "translations")]
    for info in host.loaded():
        if info.package_path and (info.package_path / "translations").is_dir():
            translation_dirs.append(str(info.package_path / "translations"))
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(translation_dirs)
    # one Babel per app: its translations cache must hold this app's catalogs only
    Babel(app, locale_selector=_select_locale, timezone_selector=_select_timezone)

    from flask_babel import get_locale

    app.jinja_env.globals["get_locale"] = get_locale
    csrf.init_app(app)
    auth.login_manager.init_app(app)

    app.register_blueprint(builtin.bp)
    app.register_blueprint(builtin.api_bp, url_prefix=f"{API_PREFIX}/<cluster>/core")
    csrf.exempt(builtin.api_bp)
    app.extensions["grappe.blueprint_plugin"] = {}
    for plugin_name, blueprints in host.call_loading("grappe_blueprints"):
        why = _blueprints_refused(app, plugin_name, blueprints)
        if why:
            host.mark_broken(plugin_name, why)
            continue
        for bp in blueprints:
            _register_plugin_blueprint(app, plugin_name, bp)
    for endpoint, view in app.view_functions.items():
        needed = getattr(view, "_grappe_permission", None)
        owner = app.extensions["grappe.blueprint_plugin"].get(endpoint.rpartition(".")[0])
        if needed and needed not in permissions and owner is not None:
            host.mark_broken(owner, f"its view '{endpoint}' requires the permission '{needed}', "
                                    f"which no grappe_permissions declares")

    from . import jobs

    jobs.init_app(app)
    _install_request_hooks(app)
    for endpoint, view in list(app.view_functions.items()):
        app.view_functions[endpoint] = request_transaction(view)  # the request's one commit
    for info in host.broken():
        app.logger.error("plugin '%s' is broken and not loaded: %s", info.name, info.error)
    return app


def _blueprints_refused(app: Flask, plugin: str, blueprints) -> str | None:
    """Why a plugin's blueprints cannot be mounted (checked before mounting any), or None."""
    if not isinstance(blueprints, (list, tuple)) or not all(isinstance(bp, Blueprint) for bp in blueprints):
        return "grappe_blueprints must return a list of flask.Blueprint"
    for bp in blueprints:
        if bp.name != plugin and not bp.name.startswith(f"{plugin}_"):
            return f"its blueprint '{bp.name}' must be named '{plugin}' or '{plugin}_...'"
        if bp.name in app.blueprints:
            return f"its blueprint '{bp.name}' has the name of a blueprint already mounted"
    return None


def _register_plugin_blueprint(app: Flask, plugin: str, bp: Blueprint) -> None:
    if isinstance(bp, ApiBlueprint):
        app.register_blueprint(bp, url_prefix=f"{API_PREFIX}/{plugin}" if bp.federation
                               else f"{API_PREFIX}/<cluster>/{plugin}")
        csrf.exempt(bp)
    elif isinstance(bp, ClusterBlueprint):
        app.register_blueprint(bp, url_prefix=f"/<cluster>/{plugin}")
    else:
        app.register_blueprint(bp)
    app.extensions["grappe.blueprint_plugin"][bp.name] = plugin


def _select_locale():
    if not has_request_context():
        return None  # CLI, jobs: the default locale
    if current_user and current_user.is_authenticated and current_user.language in LANGUAGES:
        return current_user.language
    return request.accept_languages.best_match(LANGUAGES) or "en"


def _select_timezone():
    cluster = g.get("cluster")
    return cluster.timezone if cluster is not None else None


def _install_request_hooks(app: Flask) -> None:
    from .models import Cluster
    from sqlalchemy import select
    from sqlalchemy.orm import lazyload

    host = app.extensions["grappe.host"]

    @app.url_value_preprocessor
    def _pull_cluster(_endpoint, values):
        # Per-request state starts clean even when an app context outlives the
        # request (tests that hold one open while several clients call in).
        for key in ("_login_user", "cluster", "cluster_slug", "enabled_modules", "my_clusters"):
            g.pop(key, None)
        db.session.info.pop("cluster_id", None)
        if values and "cluster" in values:
            g.cluster_slug = values.pop("cluster")

    @app.teardown_request
    def _forget_cluster(_exc=None):
        if "_grappe_session" in g:
            g._grappe_session.info.pop("cluster_id", None)

    @app.url_defaults
    def _add_cluster(endpoint, values):
        if "cluster" in values or not g.get("cluster_slug"):
            return
        if app.url_map.is_endpoint_expecting(endpoint, "cluster"):
            values["cluster"] = g.cluster_slug

    @app.before_request
    def _gate():
        """The one gate: input, cluster, module enabled, login, role and permission."""
        view = app.view_functions.get(request.endpoint or "")
        if view is None or request.endpoint == "static" or request.endpoint.endswith(".static"):
            return None  # static files are public: the login page needs its stylesheet
        inputs.check_request()
        if auth.is_api_request():
            # the API authenticates by bearer token only: a browser's session cookie
            # never authorizes an API call (no CSRF through the API)
            header = request.headers.get("Authorization", "")
            user = auth.user_for_token(header[7:].strip()) if header.startswith("Bearer ") else None
            g._login_user = user or auth.login_manager.anonymous_user()
        cluster = None
        slug = g.get("cluster_slug")
        if slug is not None:
            # one round trip: the cluster and the module-table version (the ModuleCache's check)
            row = db.session.execute(
                select(Cluster, modules_version_subquery()).where(Cluster.slug == slug)
                .options(lazyload(Cluster.modules))
            ).first()
            if row is None:
                raise NotFound()
            cluster = row[0]
            g.cluster = cluster
            g.enabled_modules = enabled_modules(cluster, version=row[1] or 0)
        plugin = app.extensions["grappe.blueprint_plugin"].get(request.blueprint or "")
        if plugin is not None:
            if host.get(plugin) is None:
                raise NotFound()  # broken while the app was built
            if cluster is not None and plugin not in g.enabled_modules:
                raise NotFound()
        auth.check_request_access(view, cluster)
        if cluster is not None:
            db.session.info["cluster_id"] = cluster.id
        return None

    if app.config.get("VALIDATE_API_RESPONSES"):
        @app.after_request
        def _check_api_response(response):
            # the test apps: every API response the suite receives must match the document
            if request.url_rule is not None and response.is_json and request.path.startswith(API_PREFIX):
                from .api import response_problem

                problem = response_problem(app, request.url_rule.endpoint, request.method,
                                           response.status_code, response.get_json(silent=True))
                if problem:
                    app.extensions.setdefault("grappe.response_problems", []).append(problem)
                    app.logger.error("API response does not match the OpenAPI document: %s", problem)
            return response

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'",
        )
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    def _wants_json() -> bool:
        return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"

    @app.errorhandler(CSRFError)
    def _csrf_error(exc):
        if _wants_json():
            return jsonify({"errors": {"csrf_token": [exc.description]}}), 400
        return render_template("core/error.html", code=400, message=exc.description), 400

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if exc.response is not None:
            return exc.response
        if hasattr(exc, "errors"):
            return exc.get_response()
        if _wants_json():
            return jsonify({"errors": {"_": [exc.description or exc.name]}}), exc.code
        return render_template("core/error.html", code=exc.code, message=exc.description), exc.code

    @app.errorhandler(IntegrityError)
    def _integrity_error(exc: IntegrityError):
        # a unique constraint that fired at flush or commit (a race the form's own check
        # could not see): the same field-level 422 as that check
        db.session.rollback()
        errors = unique_violation_errors(exc)
        if errors is None:
            return _server_error(exc)
        if _wants_json():
            return jsonify({"errors": errors}), 422
        message = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items())
        return render_template("core/error.html", code=422, message=message), 422

    @app.errorhandler(Exception)
    def _server_error(exc):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        if _wants_json():
            return jsonify({"errors": {"_": ["Internal server error."]}}), 500
        return render_template("core/error.html", code=500, message=None), 500

    @app.context_processor
    def _shell_context():
        return builtin.shell_context()
