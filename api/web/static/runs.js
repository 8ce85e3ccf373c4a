// The runs page: start a run from a JSON configuration (POST /api/runs).
(function () {
  "use strict";
  var form = document.getElementById("start-run");
  if (!form) return;
  var examples = JSON.parse(document.getElementById("examples-data").textContent);
  var select = document.getElementById("example");
  var area = document.getElementById("config");
  var errors = document.getElementById("start-errors");
  select.addEventListener("change", function () {
    area.value = JSON.stringify(examples[select.value], null, 2);
  });
  function say(lines) {
    errors.textContent = "";
    lines.forEach(function (line) {
      var li = document.createElement("li");
      li.textContent = line;
      errors.appendChild(li);
    });
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var body;
    try { body = JSON.parse(area.value); } catch (e) { say(["not valid JSON: " + e.message]); return; }
    say(["starting…"]);
    fetch("/api/runs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (data) { return { status: r.status, data: data }; }); })
      .then(function (res) {
        if (res.status === 201) { window.location = "/runs/" + res.data.id; return; }
        var detail = res.data.detail;
        // every error is {"detail": [{loc, msg, type, field}]} (api/errors.py)
        say((detail || []).map(function (e) { return e.field ? e.field + ": " + e.msg : e.msg; }));
      })
      .catch(function (e) { say(["the request failed: " + e]); });
  });
})();
