"""Probe implementations: network (tcp, http, ssh), host health over SSH, store checks.

Each probe is a function ``(check, context) -> ProbeResult`` that never
raises: a failure of the probed thing, or of the probe itself, is a result
with ``success=False`` and a message, because an exception here would hide
exactly the outage the probe exists to report.
"""
