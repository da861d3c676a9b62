"""Hook specifications billing offers to other plugins (added with ``grappe_addhooks``).

A plugin implements them with ``@hookimpl(optionalhook=True)`` unless it depends on
billing, so that it loads whether billing is installed or not.
"""

from __future__ import annotations

from core import hookspec


@hookspec
def billing_billable_items(cluster, since, until):
    """Return what a plugin has to invoice for a cluster over a period. *Per cluster.*

    Billing calls it through the cluster's subset caller (:func:`core.cluster_hooks`):
    plugins the cluster has not enabled are not asked.  The events plugin answers with
    the paying seats of its events (``plugins.events.api.billable_items``).

    :param cluster: the cluster (its id, time zone and currency).
    :param since: the first day of the period, a :class:`datetime.date` in the
        cluster's calendar (included); or an aware :class:`datetime.datetime`, taken as it is.
    :param until: the last day of the period, a date (included); or an aware datetime
        (excluded).
    :returns: a list of plain dicts, one per thing to invoice, with the keys:

        - ``source`` (str): the plugin that answers, e.g. ``"events"``;
        - ``source_id`` (str): unique within the source, e.g. ``"registration:42"``:
          invoice each item once;
        - ``organization_id`` (int or None): the CRM organization to invoice;
        - ``person_id`` (int or None): the CRM person the item is about;
        - ``description`` (str): the invoice line's text;
        - ``amount`` (:class:`decimal.Decimal`): the price charged, two decimal places;
        - ``currency`` (str): ISO 4217 code, the cluster's (``"EUR"`` by default);
        - ``date`` (:class:`datetime.date`): the day of the service, in the cluster's
          calendar;
        - ``member_price`` (bool): the member price applied.
    """
