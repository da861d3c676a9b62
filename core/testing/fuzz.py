"""Schemathesis over some of the served API's operations, for a plugin's own tests.

``tests/test_fuzz_api.py`` fuzzes every operation with a general world; a plugin's test
builds its records, then fuzzes its own operations with their real ids half of the time::

    operations, failures = fuzz_operations(app, headers=headers, path=r"/billing/sales", ids={"sale_id": sale.id})
    assert operations == 3 and not failures, failures
"""

from __future__ import annotations

import os
import re


def fuzz_operations(app, *, headers: dict, path: str, ids: dict, cluster: str = "alpha",
                    examples: int | None = None) -> tuple[int, dict[str, str]]:
    """Generate requests to the operations whose path matches the regular expression ``path``
    and check that none gets a 5xx and every answer matches its documented schema.

    ``ids``: ``{path parameter: id or [ids]}``; an even generated value is replaced by one of
    them, so half the requests reach real records.  ``examples`` per operation: by default
    ``GRAPPE_FUZZ_EXAMPLES`` or 25.  Returns how many operations were fuzzed and
    ``{operation: why it failed}``; each operation's writes are rolled back.
    """
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error, response_schema_conformance

    from ..database import db

    choices = {name: value if isinstance(value, list) else [value] for name, value in ids.items()}
    examples = examples or int(os.environ.get("GRAPPE_FUZZ_EXAMPLES", "25"))
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures: dict[str, str] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if not re.search(path, operation.path):
            continue
        operations += 1

        @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        @given(case=operation.as_strategy())
        def check(case):
            params = case.path_parameters or {}
            if "cluster" in params:
                params["cluster"] = cluster
            for name, value in list(params.items()):
                if name in choices and isinstance(value, int) and value % 2 == 0:
                    params[name] = choices[name][value // 2 % len(choices[name])]
            case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])

        try:
            check()
        except Exception as exc:  # noqa: BLE001 - collected, reported together by the caller
            failures[operation.label] = f"{type(exc).__name__}: {str(exc)[:1500]}"
        finally:
            db.session.rollback()
    return operations, failures
