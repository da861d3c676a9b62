"""The baseline: a bare Flask + SQLAlchemy app serving the same list queries as Grappe.

No plugins, no login, no gate, no cluster scoping, no layout: one engine, one view
that runs a page query and a count query and renders the rows in a plain table.  The
ratio Grappe / bare on the same query is the platform's overhead.
"""

from __future__ import annotations

from flask import Flask, render_template_string
from sqlalchemy import create_engine

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>List</title></head><body>
<p>{{ total }} rows</p>
<table>{% for row in rows %}<tr>{% for value in row %}<td>{{ value }}</td>{% endfor %}</tr>{% endfor %}</table>
</body></html>"""


def create_bare_app(url: str, queries: list[tuple]) -> Flask:
    """A Flask app answering ``/<n>`` with ``queries[n]`` = ``(page_statement, count_statement)``."""
    app = Flask("grappe_bench_bare")
    engine = create_engine(url, connect_args={"check_same_thread": False} if url.startswith("sqlite") else {})
    app.extensions["bench.engine"] = engine

    @app.route("/<int:n>")
    def listing(n: int):
        page_stmt, count_stmt = queries[n]
        with engine.connect() as conn:
            rows = conn.execute(page_stmt).all()
            total = conn.execute(count_stmt).scalar_one()
        return render_template_string(PAGE, rows=rows, total=total)

    @app.route("/hello")
    def hello():
        return "hello"

    return app


def from_env() -> Flask:
    """The bare app for gunicorn (``bench.bare:from_env()``): the URL and the queries
    (SQL text, literal values inlined) come from ``BENCH_DATABASE_URL`` and the JSON file
    named by ``BENCH_BARE_QUERIES``."""
    import json
    import os

    from sqlalchemy import text

    with open(os.environ["BENCH_BARE_QUERIES"]) as fh:
        pairs = json.load(fh)
    return create_bare_app(os.environ["BENCH_DATABASE_URL"], [(text(p), text(c)) for p, c in pairs])


def literal_sql(statement, dialect) -> str:
    """A statement as SQL text with its values inlined (to hand it to another process)."""
    if isinstance(statement, str):
        return statement
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
