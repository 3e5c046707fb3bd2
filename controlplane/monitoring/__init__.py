"""Monitoring and on-call alerting: probes, alert engine, receivers, metrics.

The operator's ``monitoring/`` folder says what to probe and when to alert;
this package does it. One room per concern:

* :mod:`.spec`, :mod:`.schema` — the monitoring folder's types and schemas; checks per inventory host
* :mod:`.spec_loader` — the folder read and validated, one function per file; :mod:`.rule_runbooks` —
  rules' runbooks checked against the runbook engine's catalog (handed in, never loaded here)
* :mod:`.probes` — tcp, http(s), ssh, host health over SSH, store checks; the concurrent runner
* :mod:`.results` — probe results, latest and bounded history
* :mod:`.alerts` — the lifecycle (pending → firing → resolved, flapping), pure
* :mod:`.suppress` — silences (incl. recurring windows) and inhibition, pure
* :mod:`.dispatch` — grouping, group_wait/interval, repeat, ack, escalation, pure
* :mod:`.payload` — Alertmanager v4 payload and texts; :mod:`.receivers` — channels
* :mod:`.delivery` — the outbox with retries and backoff (the delivery log)
* :mod:`.alert_records` — rows ↔ plain data; :mod:`.service` — the monitor loop
* :mod:`.alert_actions` — list/ack/silence/unsilence for the CLI and console
* :mod:`.intake` — Alertmanager payloads from other sites
* :mod:`.metrics` — Prometheus custom collectors; :mod:`.export` — Prometheus config and rules
"""
