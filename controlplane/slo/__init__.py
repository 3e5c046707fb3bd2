"""Service levels (绩效评估): objectives, honest accounting, incidents, burn-rate alerts and monthly reports.

``monitoring/slo.yml`` says what "available" means per service (the probe
checks and hosts that define "up"), the objective and its window; this
package turns the probe results the monitor stores into the answer a
director asks for each month. One room per concern:

* :mod:`.schema`, :mod:`.spec` — slo.yml, validated (every problem at once)
* :mod:`.timeslices` — slice arithmetic and bit masks, pure
* :mod:`.rollup` — stored probe results → per-minute masks and per-hour counts
* :mod:`.maintenance` — approved windows (planned or after the fact), their silences
* :mod:`.accounting` — a service's figures over a span: good, bad, unknown, maintenance, budget
* :mod:`.incidents` — incidents from the service's alerts; MTTR, time to acknowledge, MTBF
* :mod:`.burn` — multi-window multi-burn-rate alerts fed to the monitor's alert engine
* :mod:`.live` — the monitor's hook: rollups, burn rates and incidents as it runs
* :mod:`.report`, :mod:`.charts`, :mod:`.render`, :mod:`.labels` — monthly reports (html, pdf, csv, json; zh, en)
* :mod:`.status` — the public status page's data (no internal detail)
* :mod:`.export` — OpenSLO and Prometheus recording/alerting rules
* :mod:`.schedule` — the monthly report job and rollup retention

"Unknown" is derived from the probe results themselves: a result counts for
its probe's interval + timeout + a small grace; past that, nobody was
probing, and the time is unknown — never up. No separate heartbeat is
needed, and a monitor that runs but cannot probe a check is caught too.
"""
