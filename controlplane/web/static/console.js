// EduGov console: live run output over server-sent events. No inline script (CSP).
"use strict";
(function () {
  function startStream(output) {
    var url = output.getAttribute("data-stream");
    if (!url || !window.EventSource) { return; }
    var after = output.getAttribute("data-after") || "0";
    var source = new EventSource(url + (url.indexOf("?") < 0 ? "?" : "&") + "after=" + encodeURIComponent(after));
    var state = document.getElementById("stream-state");
    source.addEventListener("line", function (event) {
      var data = JSON.parse(event.data);
      if (output.querySelector('[data-seq="' + data.seq + '"]')) { return; }
      var span = document.createElement("span");
      span.className = "line line-" + (data.stream === "err" ? "err" : "out");
      span.setAttribute("data-seq", String(data.seq));
      span.textContent = data.text + "\n";  // textContent: output is never parsed as HTML
      var atBottom = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
      output.appendChild(span);
      if (atBottom) { output.scrollTop = output.scrollHeight; }
    });
    source.addEventListener("end", function (event) {
      var data = JSON.parse(event.data);
      source.close();
      if (state) { state.textContent = (output.getAttribute("data-ended-label") || "") + " " + (data.status || ""); }
      var cancel = document.getElementById("cancel-form");
      if (cancel) { cancel.hidden = true; }
      window.setTimeout(function () { window.location.reload(); }, 800);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var output = document.getElementById("output");
    if (output) { startStream(output); }
  });
})();
