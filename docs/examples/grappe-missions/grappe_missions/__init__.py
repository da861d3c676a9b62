"""International missions: trade fairs and delegations abroad, per cluster."""

from core import Manifest

manifest = Manifest(
    name="missions",
    version="0.1.0",
    label="International missions",
    description="Trade fairs and business delegations abroad.",
    depends=(),
)
