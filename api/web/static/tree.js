// The tree's view on the run page: zoom (buttons, Ctrl + wheel), pan (drag), find a
// node by id, fit. The server draws the tree at its natural size (the svg's
// width/height attributes); the view is the svg's viewBox, the box around it
// a fixed window. The state is a scale and the tree point at the window's
// centre. Fit never scales up past MAX_FIT, so a three-node tree stays three
// small circles; a tree too big to read when fitted opens at READABLE scale
// with its root at the top. Every label shows once leaf columns are
// LABELS_AT screen pixels apart; the lineage's and the selected node's always.
(function () {
  "use strict";
  var MIN = 0.02, MAX = 4, MAX_FIT = 1, READABLE = 0.8, FOCUS = 1.5, LABELS_AT = 22, STEP = 1.25;

  window.cladeTreeView = function (box, controls) {
    var view = null, touched = false, natural = null;

    function svg() { return box.querySelector("svg.tree"); }
    function clamp(v, lo, hi) { return Math.max(lo, Math.min(hi, v)); }

    function fitted() {
      var s = Math.min(box.clientWidth / natural.w, box.clientHeight / natural.h, MAX_FIT);
      return { s: s, cx: natural.w / 2, cy: natural.h / 2 };
    }

    function initial() {
      var fit = fitted();
      if (fit.s >= READABLE * 0.5) return fit;
      var root = (svg().dataset.root || "0 0").split(" ").map(parseFloat);
      var s = READABLE, halfW = box.clientWidth / 2 / s;
      return { s: s, cx: clamp(root[0], halfW, Math.max(natural.w - halfW, halfW)), cy: box.clientHeight / 2 / s };
    }

    function apply() {
      var el = svg();
      if (!el || !view) return;
      var w = box.clientWidth / view.s, h = box.clientHeight / view.s;
      el.setAttribute("viewBox", [view.cx - w / 2, view.cy - h / 2, w, h].map(function (v) { return v.toFixed(1); }).join(" "));
      el.style.fontSize = (11 / view.s).toFixed(2) + "px";  // labels keep their screen size
      el.classList.toggle("labels", parseFloat(el.dataset.spacing || "0") * view.s >= LABELS_AT);
      box.dataset.scale = view.s.toFixed(3);
      if (controls.scale) controls.scale.textContent = Math.round(view.s * 100) + " %";
    }

    function zoom(factor, px, py) {  // px, py: the window point that stays put
      var s = clamp(view.s * factor, MIN, MAX);
      if (px === undefined) { px = box.clientWidth / 2; py = box.clientHeight / 2; }
      var tx = view.cx + (px - box.clientWidth / 2) / view.s, ty = view.cy + (py - box.clientHeight / 2) / view.s;
      view = { s: s, cx: tx - (px - box.clientWidth / 2) / s, cy: ty - (py - box.clientHeight / 2) / s };
      touched = true;
      apply();
    }

    // A new svg (the first, or a redraw): keep the user's view, else choose one.
    function attach() {
      var el = svg();
      if (!el) return;
      natural = { w: parseFloat(el.getAttribute("width")), h: parseFloat(el.getAttribute("height")) };
      if (!view || !touched) view = initial();
      apply();
    }

    function centre(id) {
      var a = box.querySelector('a.node[data-id="' + id + '"]');
      if (!a) return false;
      var c = a.querySelector("circle.hit");
      view = { s: Math.max(view.s, FOCUS), cx: parseFloat(c.getAttribute("cx")), cy: parseFloat(c.getAttribute("cy")) };
      touched = true;
      apply();
      return true;
    }

    // Ctrl + wheel zooms (a trackpad's pinch arrives so too); a plain wheel scrolls
    // the page, which the tree must not trap when it fills most of the window.
    box.addEventListener("wheel", function (event) {
      if (!event.ctrlKey && !event.metaKey) return;
      event.preventDefault();
      var r = box.getBoundingClientRect();
      zoom(Math.exp(-event.deltaY * 0.0015), event.clientX - r.left, event.clientY - r.top);
    }, { passive: false });

    // Drag to pan; a drag is not a click (the pointer is captured only once it moved).
    var drag = null, dragged = false;
    box.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) return;
      drag = { x: event.clientX, y: event.clientY, cx: view.cx, cy: view.cy, id: event.pointerId };
      dragged = false;
    });
    box.addEventListener("pointermove", function (event) {
      if (!drag) return;
      var dx = event.clientX - drag.x, dy = event.clientY - drag.y;
      if (!dragged && Math.abs(dx) + Math.abs(dy) < 4) return;
      if (!dragged) { dragged = true; box.setPointerCapture(drag.id); box.classList.add("panning"); }
      view = { s: view.s, cx: drag.cx - dx / view.s, cy: drag.cy - dy / view.s };
      touched = true;
      apply();
    });
    function release() { drag = null; box.classList.remove("panning"); }
    box.addEventListener("pointerup", release);
    box.addEventListener("pointercancel", release);
    box.addEventListener("click", function (event) {
      if (dragged) { event.preventDefault(); event.stopPropagation(); dragged = false; }
    }, true);

    controls.zoomIn.addEventListener("click", function () { zoom(STEP); });
    controls.zoomOut.addEventListener("click", function () { zoom(1 / STEP); });
    controls.fit.addEventListener("click", function () { view = fitted(); touched = true; apply(); });
    window.addEventListener("resize", apply);

    attach();
    return { attach: attach, centre: centre };
  };
})();
