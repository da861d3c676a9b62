"""The billing plugin, slice 1: the service catalogue (ranges, services described along the
service checklist, production steps and costs) and its prices (pricing modes, member and
non-member amounts, validity dates).  Payers, quotes, subscriptions, sales and invoices come
in later slices, on the same models (a sale refers to a :class:`.models.Price` row)."""

from core import Manifest

manifest = Manifest(
    name="billing",
    version="0.1.0",
    label="Billing",
    description="Service catalogue by range, each service described along the service checklist "
                "(value, target, process and costs, competences and network, design), prices by "
                "pricing mode for members and non-members, unit cost, margins and break-even.",
    depends=("crm",),
)
