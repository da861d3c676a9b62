"""The CRM plugin: the federation's shared organizations and persons, memberships,
interactions, competences and matching, segments, import and export."""

from core import Manifest

manifest = Manifest(
    name="crm",
    version="0.1.0",
    label="CRM",
    description="Organizations and persons shared by the federation; memberships, interactions, "
                "competences and matching, segments, CSV/XLSX import and export.",
)
