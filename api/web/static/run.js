// The run page, live: follows GET /api/runs/{id}/events (server-sent events),
// marks the nodes being built and evaluated at once, and redraws the tree,
// the summary and the charts from the server (debounced). A click on a node
// opens a detail panel instead of leaving the page.
(function () {
  "use strict";
  var root = document.getElementById("run");
  if (!root) return;
  var runId = root.dataset.runId;
  var after = parseInt(root.dataset.lastSeq || "0", 10);
  var tree = document.getElementById("tree");
  var log = document.getElementById("event-log");
  var state = document.getElementById("stream-state");
  var evaluating = {};   // node id -> evaluations running (from the stream)
  var building = {};     // node id -> true
  var selected = null;
  var timer = null, lastRefresh = 0;

  var view = window.cladeTreeView(tree, {
    zoomIn: document.getElementById("tree-zoom-in"), zoomOut: document.getElementById("tree-zoom-out"),
    fit: document.getElementById("tree-fit"), scale: document.getElementById("tree-scale")
  });

  function nodeEl(id) { return tree.querySelector('a.node[data-id="' + id + '"]'); }

  function applyMarks() {
    Object.keys(evaluating).forEach(function (id) {
      var el = nodeEl(id);
      if (el) el.classList.toggle("evaluating", evaluating[id] > 0);
    });
    Object.keys(building).forEach(function (id) {
      var el = nodeEl(id);
      if (el) el.classList.toggle("expanding", !!building[id]);
    });
    if (selected) { var s = nodeEl(selected); if (s) s.classList.add("selected"); }
  }

  function fetchInto(url, el, then) {
    return fetch(url, { headers: { Accept: "text/html" } }).then(function (r) {
      if (!r.ok) return;
      return r.text().then(function (html) { el.innerHTML = html; if (then) then(); });
    });
  }

  function refresh() {
    timer = null;
    lastRefresh = Date.now();
    var big = parseInt((tree.querySelector("svg") || { dataset: {} }).dataset.nodes || "0", 10) > 2000;
    fetchInto("/runs/" + runId + "/partials/tree", tree, function () {
      // the server's marks are the truth now; the stream's marks start again from them
      evaluating = {}; building = {};
      applyMarks();
      var svg = tree.querySelector("svg");
      if (svg) document.getElementById("tree-count").textContent = svg.dataset.nodes + " nodes";
      view.attach();
    });
    fetchInto("/runs/" + runId + "/partials/summary", document.getElementById("summary"));
    fetchInto("/runs/" + runId + "/partials/charts", document.getElementById("charts"));
    return big;
  }

  function scheduleRefresh() {
    if (timer) return;
    var wait = Math.max(0, 1500 - (Date.now() - lastRefresh));
    timer = setTimeout(refresh, wait);
  }

  var LINKS = { node_id: "/nodes/", parent_id: "/nodes/", best_node_id: "/nodes/", evaluation_id: "/evaluations/" };
  function addLog(ev) {
    var li = document.createElement("li");
    li.dataset.seq = ev.seq;
    var seq = document.createElement("span"); seq.className = "seq"; seq.textContent = ev.seq;
    var kind = document.createElement("span"); kind.className = "kind"; kind.textContent = " " + ev.kind + " ";
    var payload = document.createElement("span"); payload.className = "payload";
    Object.keys(ev.payload || {}).forEach(function (key) {  // as the page draws them (web.py _payload_parts)
      var value = ev.payload[key], href = LINKS[key] && typeof value === "number" ? LINKS[key] + value : null;
      var name = document.createElement("span"); name.className = "field"; name.textContent = key + "=";
      var shown = document.createElement(href ? "a" : "span");
      shown.textContent = typeof value === "string" ? value : JSON.stringify(value);
      if (href) shown.href = href;
      payload.appendChild(name); payload.appendChild(shown); payload.appendChild(document.createTextNode(" "));
    });
    li.appendChild(seq); li.appendChild(kind); li.appendChild(payload);
    log.insertBefore(li, log.firstChild);
    while (log.children.length > 200) log.removeChild(log.lastChild);
  }

  function onEvent(ev) {
    var p = ev.payload || {};
    addLog(ev);
    if (ev.kind === "evaluation_started" || ev.kind === "evaluation_resumed") {
      if (p.node_id) evaluating[p.node_id] = (evaluating[p.node_id] || 0) + 1;
    } else if (ev.kind === "evaluation_finished") {
      if (p.node_id) evaluating[p.node_id] = Math.max((evaluating[p.node_id] || 1) - 1, 0);
    } else if (ev.kind === "expansion_started" || ev.kind === "expansion_resumed") {
      if (p.node_id) building[p.node_id] = true;
    } else if (ev.kind === "expansion_finished") {
      if (p.node_id) building[p.node_id] = false;
    }
    applyMarks();
    scheduleRefresh();
  }

  var source = null;
  function connect() {
    if (!window.EventSource) { state.textContent = "(no live updates in this browser)"; return; }
    if (source) source.close();
    source = new EventSource("/api/runs/" + runId + "/events?after=" + after);
    source.onopen = function () { state.textContent = "live"; };
    var received = 0;
    source.onmessage = function (m) {
      var ev = JSON.parse(m.data);
      after = ev.seq;
      received += 1;
      onEvent(ev);
    };
    source.addEventListener("end", function () {
      source.close();
      state.textContent = "the run has stopped";
      if (received) refresh();  // a run that ended while we watched: draw its final state
    });
    source.onerror = function () { state.textContent = "reconnecting…"; };
  }

  // -- the detail panel --------------------------------------------------------
  var panel = document.getElementById("node-panel");
  function field(dl, name, value) {
    var dt = document.createElement("dt"); dt.textContent = name;
    var dd = document.createElement("dd"); dd.textContent = value;
    dl.appendChild(dt); dl.appendChild(dd);
  }
  function ratio(r, t) { return t ? (r / t).toFixed(2) + " (" + r + "/" + t + ")" : "- (0/0)"; }
  function showNode(id) {
    if (selected) { var old = nodeEl(selected); if (old) old.classList.remove("selected"); }
    selected = id;
    applyMarks();
    fetch("/api/nodes/" + id + "?diff=false").then(function (r) { return r.json(); }).then(function (n) {
      document.getElementById("panel-title").textContent = "Node " + n.id;
      var dl = document.getElementById("panel-fields");
      dl.textContent = "";
      field(dl, "status", n.status);
      field(dl, "parent", n.parent_id === null ? "seed (root)" : "node " + n.parent_id);
      field(dl, "own score", ratio(n.own_resolved, n.own_total));
      field(dl, "clade (CMP)", ratio(n.clade_resolved, n.clade_total));
      if (n.own_tampered) field(dl, "tampered", n.own_tampered + " grade(s) refused: counted as failures");
      field(dl, "children", n.children.length ? n.children.join(", ") : "-");
      if (n.entry_task) field(dl, "entry", n.entry_task);
      if (n.validation.passed === false) field(dl, "invalid at", (n.validation.stage || "?") + ": " + (n.validation.reason || ""));
      field(dl, "evaluations", n.evaluations.length + " (" + n.evaluations.filter(function (e) { return e.outcome === null; }).length + " running)");
      var proposal = n.proposal && (n.proposal.improvement_proposal || n.proposal.summary || "");
      document.getElementById("panel-proposal").textContent = proposal ? "Proposal: " + proposal : "";
      document.getElementById("panel-open").href = "/nodes/" + n.id;
      var exp = document.getElementById("panel-export");
      exp.href = "/api/nodes/" + n.id + "/export";
      exp.hidden = !n.commit;
      panel.hidden = false;
    });
  }
  tree.addEventListener("click", function (event) {
    var a = event.target.closest ? event.target.closest("a.node") : null;
    if (!a || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    showNode(a.dataset.id);
  });
  document.getElementById("panel-close").addEventListener("click", function () {
    panel.hidden = true;
    if (selected) { var s = nodeEl(selected); if (s) s.classList.remove("selected"); selected = null; }
  });

  // -- pause / resume / cancel ---------------------------------------------------
  document.getElementById("summary").addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-action]") : null;
    if (!button) return;
    var action = button.dataset.action;
    if (action === "cancel" && !window.confirm("Cancel run " + runId + " for good?")) return;
    button.disabled = true;
    fetch("/api/runs/" + runId + "/" + action, { method: "POST" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var problems = (data.detail || []).map(function (e) { return e.msg; }).join("; ");
        document.getElementById("action-message").textContent = data.message || problems;
        refresh();
        if (action === "resume") setTimeout(connect, 500);
      });
  });

  // -- find a node by id: centre it and open its panel -------------------------------
  document.getElementById("tree-find").addEventListener("submit", function (event) {
    event.preventDefault();
    var id = document.getElementById("tree-search").value.trim().replace(/^#/, "");
    var message = document.getElementById("tree-find-message");
    if (!/^[0-9]+$/.test(id) || !view.centre(id)) { message.textContent = "no node " + id + " in this run"; return; }
    message.textContent = "";
    showNode(id);
  });

  connect();
})();
