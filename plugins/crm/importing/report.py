"""What an import tells: its report (rows, errors, timings), the plan of what it writes, and
the refusals."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

MAX_REPORTED_ERRORS = 1000


class ImportRefused(ValueError):
    """The file cannot be read at all (too large, empty, not CSV or XLSX)."""


class RowsRefused(Exception):
    """Rows the write found wrong after all (``[(line, column, message)]``): nothing is kept."""

    def __init__(self, errors: list[tuple[int, str, str]]):
        super().__init__("; ".join(message for _line, _column, message in errors))
        self.errors = errors


@dataclass
class RowError:
    line: int
    column: str
    message: str


@dataclass
class ImportReport:
    """What an import did (or would do, for a dry run)."""

    kind: str
    dry_run: bool
    filename: str = ""
    encoding: str = ""
    delimiter: str = ""
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    organizations_created: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    columns: dict[str, str] = field(default_factory=dict)  # file column -> field
    ignored_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # read, validate, match, write: seconds
    written: bool = False

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def add_error(self, line: int, column: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(line, column, str(message)))

    def as_dict(self) -> dict:
        data = asdict(self)
        data["ok"] = self.ok
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ImportReport":
        data = dict(data)
        data.pop("ok", None)
        errors = [RowError(**e) for e in data.pop("errors", [])]
        return cls(errors=errors, **data)


@dataclass
class ImportPlan:
    """A file's valid rows and what the import makes of them.

    The validation fills ``rows``; the matching files them as ``new`` rows to insert or
    ``changed`` records to update (rows matching a record to skip are only counted) and,
    for persons, the ``new_orgs`` their employers' names call for; the writing writes them.
    """

    kind: str  # "organizations" or "persons"
    report: ImportReport
    on_duplicate: str  # "update" or "skip"
    column_of: dict[str, str]  # field -> the file's column
    rows: list[tuple[int, dict]] = field(default_factory=list)  # (line, cleaned values)
    new: list[dict] = field(default_factory=list)
    changed: list[tuple[int, dict]] = field(default_factory=list)  # (existing id, row)
    new_orgs: dict[str, str] = field(default_factory=dict)  # name key -> name

    def column(self, fieldname: str) -> str:
        """The file's column of a field (the field's name when the file has none)."""
        return self.column_of.get(fieldname, fieldname)
