// The runs page: start a run from a configuration typed as JSON or YAML
// (the server reads YAML into JSON: /runs/config-as-json), POST /api/runs.
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
    say(["starting…"]);
    function post(url, type, body) {
      return fetch(url, { method: "POST", headers: { "Content-Type": type }, body: body })
        .then(function (r) { return r.json().then(function (data) { return { status: r.status, data: data }; }); });
    }
    post("/runs/config-as-json", "text/plain; charset=utf-8", area.value)
      .then(function (res) {
        if (res.status !== 200) return res;
        return post("/api/runs", "application/json", JSON.stringify(res.data));
      })
      .then(function (res) {
        if (res.status === 201) { window.location = "/runs/" + res.data.id; return; }
        var detail = res.data.detail;
        // every error is {"detail": [{loc, msg, type, field}]} (api/errors.py)
        say((detail || []).map(function (e) { return e.field ? e.field + ": " + e.msg : e.msg; }));
      })
      .catch(function (e) { say(["the request failed: " + e]); });
  });
})();
