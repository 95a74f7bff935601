// Observatory dashboards: draws the Plotly figures the server sent as JSON, in the current colour
// scheme; reports the browser's time zone; pauses and resumes auto-refresh. No build step.
(function () {
  "use strict";

  var tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  var cookie = document.cookie.split("; ").find(function (c) { return c.indexOf("obs_tz=") === 0; });
  if (!cookie || decodeURIComponent(cookie.slice(7)) !== tz) {
    document.cookie = "obs_tz=" + encodeURIComponent(tz) + "; path=/; max-age=31536000; samesite=lax";
    if (!cookie && tz !== "UTC" && document.body && document.body.dataset.tzReload !== "no") {
      location.reload();  // first visit: render the times again in the viewer's zone
      return;
    }
  }

  function dark() { return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches; }

  function themed(layout) {
    var ink = dark() ? "#e6edf3" : "#1f2328", grid = dark() ? "#30363d" : "#d8dee4";
    layout = Object.assign({}, layout, {
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: Object.assign({ color: ink, family: "system-ui, sans-serif" }, layout.font || {}),
      colorway: dark() ? ["#58a6ff", "#f0883e", "#3fb950", "#d2a8ff", "#ff7b72", "#e3b341", "#79c0ff", "#a5d6ff"]
                       : ["#0969da", "#bc4c00", "#1a7f37", "#8250df", "#cf222e", "#9a6700", "#1b7c83", "#6e7781"]
    });
    ["xaxis", "yaxis"].forEach(function (axis) {
      layout[axis] = Object.assign({ gridcolor: grid, zerolinecolor: grid, linecolor: grid }, layout[axis] || {});
    });
    layout.hoverlabel = { bgcolor: dark() ? "#161b22" : "#ffffff", font: { color: ink } };
    return layout;
  }

  // Nothing phones home: plotly.js offers to upload a chart to its cloud unless told not to, and
  // Observatory promises air-gapped operation. The mode bar keeps what makes sense here: download
  // as PNG, zoom, autoscale and reset.
  var CHART_CONFIG = {
    responsive: true, displaylogo: false, showSendToCloud: false, showEditInChartStudio: false,
    showLink: false, plotlyServerURL: "",
    modeBarButtonsToRemove: ["lasso2d", "select2d", "pan2d", "zoomIn2d", "zoomOut2d", "toggleSpikelines",
                             "hoverClosestCartesian", "hoverCompareCartesian", "sendDataToCloud",
                             "editInChartStudio"]
  };

  function draw(root) {
    if (!window.Plotly) { return; }
    (root || document).querySelectorAll("[data-figure]").forEach(function (el) {
      var source = document.getElementById(el.dataset.figure);
      if (!source) { return; }
      var figure = JSON.parse(source.textContent);
      window.Plotly.react(el, figure.data, themed(figure.layout), CHART_CONFIG);
    });
  }

  window.observatoryDraw = draw;
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function () { draw(document); });
  if (window.matchMedia) {
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", function () { draw(document); });
  }

  // Auto-refresh: the page body re-fetches itself every minute unless paused; the choice is kept.
  // The timer lives here rather than in an hx-trigger filter expression, which htmx would have to
  // eval (the Content-Security-Policy allows no eval); it sends the body's "obs-refresh" trigger.
  function refreshOn() {
    var box = document.getElementById("autorefresh");
    return !!box && box.checked && document.visibilityState === "visible";
  }
  window.observatoryRefreshOn = refreshOn;
  var refreshTimer = null;
  function scheduleRefresh() {
    if (refreshTimer) { clearTimeout(refreshTimer); }
    refreshTimer = setTimeout(function () {
      var body = document.querySelector("[data-autorefresh]");
      if (body && window.htmx && refreshOn()) { window.htmx.trigger(body, "obs-refresh"); }
      scheduleRefresh();
    }, 60000);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("autorefresh");
    if (!box) { return; }
    box.checked = localStorage.getItem("obs-autorefresh") !== "off";
    box.addEventListener("change", function () { localStorage.setItem("obs-autorefresh", box.checked ? "on" : "off"); });
    scheduleRefresh();
  });
  // A swapped body (filters, refresh) waits a whole minute again, as htmx's own "every 60s" did.
  document.addEventListener("htmx:afterSettle", function () { if (refreshTimer) { scheduleRefresh(); } });

  // No inline handlers (the CSP forbids them): behaviour comes from data-* attributes.
  // <select data-autosubmit> submits its form on change (the project switcher).
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select && select.matches && select.matches("select[data-autosubmit]") && select.form) {
      select.form.submit();
    }
  });
  // [data-select-trigger]: its selects apply at once (the "obs-select" htmx trigger), its text inputs
  // wait for Enter; a trigger filter (change[target.tagName=='SELECT']) would need eval.
  document.addEventListener("change", function (event) {
    var select = event.target;
    var host = select && select.tagName === "SELECT" && select.closest("[data-select-trigger]");
    if (host && window.htmx) { window.htmx.trigger(host, "obs-select"); }
  });
  // data-confirm="question" on a form (asked on submit) or on a button (asked on click).
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-confirm], input[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form && form.matches && form.matches("form[data-confirm]") && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  }, true);

  // Custom range: the date inputs are shown (and sent) only when "custom" is chosen.
  document.addEventListener("change", function (event) {
    if (event.target && event.target.id === "range") {
      var custom = document.getElementById("custom-range");
      if (custom) {
        custom.hidden = event.target.value !== "custom";
        custom.querySelectorAll("input").forEach(function (input) { input.disabled = custom.hidden; });
      }
    }
  });

  // Shareable URLs: leave out filters left at "All" (empty values).
  document.addEventListener("htmx:configRequest", function (event) {
    var params = event.detail.parameters;
    var names = typeof params.keys === "function" ? Array.from(params.keys()) : Object.keys(params);
    names.forEach(function (name) {
      var value = typeof params.getAll === "function" ? params.getAll(name) : [].concat(params[name]);
      if (value.every(function (v) { return v === ""; })) {
        if (typeof params.delete === "function") { params.delete(name); } else { delete params[name]; }
      }
    });
  });

  // Copy buttons (API keys shown once, snippets).
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) { return; }
    var target = document.getElementById(button.dataset.copy);
    if (target && navigator.clipboard) {
      navigator.clipboard.writeText(target.textContent.trim());
      button.textContent = "Copied";
    }
  });
})();
