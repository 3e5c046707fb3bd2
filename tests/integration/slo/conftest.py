"""The runbook lab tests' fixtures (a site on the shared lab, the tiny portal on both portal hosts), shared here."""

from __future__ import annotations

from tests.integration.runbook.conftest import lab_config, portal, site

__all__ = ["lab_config", "portal", "site"]
