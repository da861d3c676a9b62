"""The events plugin: events, registrations with member prices, invitations, waitlist,
check-in, badges, iCalendar and reports."""

from core import Manifest

manifest = Manifest(
    name="events",
    version="0.1.0",
    label="Events",
    description="Events per cluster: registrations with member prices, capacity and waitlist, "
                "invitations, public registration page, check-in, badges, iCalendar, reports.",
    depends=("crm",),
)
