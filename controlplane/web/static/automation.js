// EduGov console: live per-host progress of a provision/harden run. No inline script (CSP).
// Polls the run's progress JSON (data-progress on #host-progress) until the run is final,
// and updates each host's state and ok/changed/failed/unreachable/skipped counters in place.
"use strict";
(function () {
  var FIELDS = ["ok", "changed", "failed", "unreachable", "skipped", "last_task"];
  var INTERVAL_MS = 1000;

  function labels(table) {
    try { return JSON.parse(table.getAttribute("data-labels") || "{}"); } catch (e) { return {}; }
  }

  function rowFor(table, host) {
    var rows = table.tBodies[0].rows;
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-host") === host) { return rows[i]; }
    }
    var row = table.tBodies[0].insertRow(-1);
    row.setAttribute("data-host", host);
    var name = row.insertCell(-1);
    name.textContent = host;
    var state = row.insertCell(-1);
    state.setAttribute("data-field", "state");
    FIELDS.forEach(function (field) { row.insertCell(-1).setAttribute("data-field", field); });
    return row;
  }

  function setState(cell, state, names) {
    var span = cell.querySelector("span") || cell.appendChild(document.createElement("span"));
    span.className = "status host-state-" + String(state).replace(/ /g, "-");
    span.setAttribute("data-state", state);
    span.textContent = names[state] || state;  // textContent: never parsed as HTML
  }

  function update(table, data, names) {
    (data.hosts || []).forEach(function (host) {
      var row = rowFor(table, host.host);
      setState(row.querySelector('[data-field="state"]'), host.state, names);
      FIELDS.forEach(function (field) {
        var cell = row.querySelector('[data-field="' + field + '"]');
        if (cell) { cell.textContent = String(host[field] === undefined ? "" : host[field]); }
      });
    });
  }

  function poll(table) {
    var url = table.getAttribute("data-progress");
    if (!url || !window.fetch) { return; }
    var names = labels(table);
    function tick() {
      window.fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) { window.setTimeout(tick, INTERVAL_MS * 5); return; }
          update(table, data, names);
          if (!data.final) { window.setTimeout(tick, INTERVAL_MS); }
        })
        .catch(function () { window.setTimeout(tick, INTERVAL_MS * 5); });
    }
    tick();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var table = document.getElementById("host-progress");
    if (table) { poll(table); }
  });
})();
