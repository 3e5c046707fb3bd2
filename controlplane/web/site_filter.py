"""The ``?site=NAME`` filter of the console's pages (the dashboard's picture links to each page with it).

A page given ``site`` shows that site and the sites below it: a province
with its schools. The site is checked like any other input naming a site:
400 for a malformed name, 404 for a site the inventory does not have, 403
for a site outside the caller's scope. Objects of no inventory site (the
control plane's own datasets, alerts without a site label) are ministry
level: they belong to a top site of the inventory (one without a parent).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort

from controlplane.web.policy import require_site
from controlplane.web.state import state
from controlplane.web.validation import query_text

SITE_NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"


@dataclass(frozen=True)
class SiteFilter:
    """The requested site, the sites it covers, and whether it is a top site (then ministry-level objects too)."""

    site: str
    sites: frozenset[str]
    top: bool

    def covers(self, site: str | None) -> bool:
        """True when an object of ``site`` belongs to the filtered sites (ministry-level ones to a top site)."""
        if site in self.sites:
            return True
        return self.top and (site is None or site not in state().inventory.sites)


def requested_sites() -> SiteFilter | None:
    """The page's ``site`` filter after the checks above, or None when the request names no site."""
    site = query_text("site", SITE_NAME)
    if site is None:
        return None
    inventory = state().inventory
    found = inventory.sites.get(site)
    if found is None:
        abort(404)
    require_site(site)
    top = found.parent is None or found.parent not in inventory.sites
    return SiteFilter(site, frozenset(inventory.site_and_descendants(site)), top)
