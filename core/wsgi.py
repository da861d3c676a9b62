"""WSGI entry point for gunicorn: ``gunicorn 'core.wsgi:app'``."""

from .app import create_app

app = create_app()
