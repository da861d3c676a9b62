"""Response models of the core's own API (``core_api``): what ``/api/v1/<cluster>/core/...``
answers, described by the OpenAPI document and produced by :func:`core.api.serialize`.

The job's page answers with the same :class:`JobOut` when asked for JSON.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .api import ResponseModel


class JobOut(ResponseModel):
    """A background job's progress (``GET /api/v1/<cluster>/core/jobs/<id>``)."""

    id: int
    name: str
    label: str
    status: str = Field(description="queued, running, done or failed")
    done: int
    total: int
    percent: int = Field(description="0 to 100 (100 once done)")
    message: str
    result: Any = Field(description="the job's outcome (JSON), once done; null before")


class ModuleOut(ResponseModel):
    """An installed module, and whether the cluster has it enabled."""

    name: str
    label: str
    version: str
    enabled: bool


class ModuleListOut(ResponseModel):
    items: list[ModuleOut]
