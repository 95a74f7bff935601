// The calls explorer: which optional columns show (remembered per user in this browser), rows that
// expand to their whole text, and ticking rows for "add to a review queue". No inline script (the
// Content-Security-Policy forbids it): behaviour hangs on data-* attributes. The page's body is
// swapped by htmx when filters change and this file comes along with it, so it sets itself up once.
(function () {
  "use strict";
  if (window.observatoryExplorer) { window.observatoryExplorer.apply(); return; }

  // Column choices live in localStorage, keyed by the signed-in user's id: a choice about how a
  // table looks, kept without a round trip or a new table, and two people sharing a browser keep
  // their own. It does not follow someone to another browser (docs/dashboards.md says so).
  function key() {
    var root = document.querySelector("[data-explorer]");
    return "obs-calls-columns:" + (root ? root.dataset.user : "");
  }

  function stored() {
    try { return JSON.parse(localStorage.getItem(key()) || "null"); } catch (e) { return null; }
  }

  function apply() {
    var chooser = document.querySelector("[data-columns]");
    if (!chooser) { return; }
    var shown = stored();
    chooser.querySelectorAll("input[data-col]").forEach(function (box) {
      if (shown && Object.prototype.hasOwnProperty.call(shown, box.dataset.col)) {
        box.checked = !!shown[box.dataset.col];
      }
    });
    var hidden = {};
    chooser.querySelectorAll("input[data-col]").forEach(function (box) { hidden[box.dataset.col] = !box.checked; });
    document.querySelectorAll("[data-calls-table]").forEach(function (table) {
      Object.keys(hidden).forEach(function (col) { table.classList.toggle("hide-" + col, hidden[col]); });
    });
    count();
  }

  function save() {
    var choice = {};
    document.querySelectorAll("[data-columns] input[data-col]").forEach(function (box) {
      choice[box.dataset.col] = box.checked;
    });
    try { localStorage.setItem(key(), JSON.stringify(choice)); } catch (e) { /* private mode: this page only */ }
    apply();
  }

  // How many rows are ticked, on the "Add selected" button.
  function count() {
    var picked = document.querySelectorAll("input[data-pick]:checked").length;
    document.querySelectorAll("[data-picked]").forEach(function (el) { el.textContent = String(picked); });
    var all = document.querySelector("input[data-pick-all]");
    var boxes = document.querySelectorAll("input[data-pick]");
    if (all) {
      all.checked = picked > 0 && picked === boxes.length;
      all.indeterminate = picked > 0 && picked < boxes.length;
    }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!target || !target.matches) { return; }
    if (target.matches("[data-columns] input[data-col]")) { save(); }
    if (target.matches("input[data-pick-all]")) {
      document.querySelectorAll("input[data-pick]").forEach(function (box) { box.checked = target.checked; });
    }
    if (target.matches("input[data-pick], input[data-pick-all]")) { count(); }
  });

  // Expand a row: its clipped cells wrap to show their whole text (also the hover title's text).
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-expand]");
    if (!button) { return; }
    var row = button.closest("tr");
    var open = !row.classList.contains("expanded");
    row.classList.toggle("expanded", open);
    button.setAttribute("aria-expanded", open ? "true" : "false");
  });

  window.observatoryExplorer = { apply: apply };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", apply);
  } else {
    apply();
  }
  // Pages of calls (Older, Newest), group by trace and the filters swap the table in again.
  document.addEventListener("htmx:afterSettle", apply);
})();
