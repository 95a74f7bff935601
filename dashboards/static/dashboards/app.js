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

  function drawOne(el) {
    var source = document.getElementById(el.dataset.figure);
    if (!source || !window.Plotly) { return; }
    var figure = JSON.parse(source.textContent);
    window.Plotly.react(el, figure.data, themed(figure.layout), CHART_CONFIG);
  }

  // On a page's first load, charts on the first screen are drawn at once (before the load event)
  // and a chart further down when it comes within a screen of the viewport, as images with
  // loading="lazy" are: drawing is most of a cold first load (plotly.js compiles its drawing code on
  // first use), and most visits never scroll to the bottom. Printing draws them all first. After an
  // htmx swap (filters, auto-refresh) every chart is drawn at once: the code is warm by then.
  var lazy = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (entry.isIntersecting) { lazy.unobserve(entry.target); drawOne(entry.target); }
    });
  }, { rootMargin: "100% 0px" }) : null;

  function draw(root, firstLoad) {
    if (!window.Plotly) { return; }
    var fold = window.innerHeight;
    (root || document).querySelectorAll("[data-figure]").forEach(function (el) {
      if (firstLoad && lazy && el.getBoundingClientRect().top > fold) {
        lazy.observe(el);
      } else {
        if (lazy) { lazy.unobserve(el); }
        drawOne(el);
      }
    });
  }
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("[data-figure]:not(.js-plotly-plot)").forEach(drawOne);
  });

  window.observatoryDraw = draw;
  document.addEventListener("DOMContentLoaded", function () { draw(document, true); });
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
  // A refresh swaps the body, so it waits while someone edits: focus in a text field, or any field
  // holding a value not yet applied (typed, then left). Selects apply at once, so they never wait.
  var TEXT_TYPES = ["checkbox", "radio", "button", "submit", "reset", "hidden", "image", "file"];
  function typing(el) {
    return !!el && (el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && TEXT_TYPES.indexOf(el.type) < 0));
  }
  function unapplied(el) {
    if (el.id === "autorefresh" || el.disabled) { return false; }
    if (el.tagName === "SELECT") {  // with no option marked selected, the first one is the default
      var marked = Array.prototype.some.call(el.options, function (o) { return o.defaultSelected; });
      return Array.prototype.some.call(el.options, function (o, i) {
        return o.selected !== (o.defaultSelected || (!marked && !el.multiple && i === 0));
      });
    }
    if (el.type === "checkbox" || el.type === "radio") { return el.checked !== el.defaultChecked; }
    return typing(el) && el.value !== el.defaultValue;
  }
  function editing() {
    var scope = [document.getElementById("toolbar"), document.querySelector("[data-autorefresh]")];
    if (typing(document.activeElement) && scope.some(function (s) { return s && s.contains(document.activeElement); })) {
      return true;
    }
    return Array.prototype.some.call(document.querySelectorAll("input, select, textarea"), function (el) {
      return (el.form && el.form.id === "toolbar") || scope.some(function (s) { return s && s.contains(el); })
        ? unapplied(el) : false;
    });
  }
  function showPaused() {
    var status = document.getElementById("autorefresh-status");
    var box = document.getElementById("autorefresh");
    if (!status || !box) { return; }
    var text = box.checked && editing() ? "Auto-refresh paused while you edit a field" : "";
    if (status.textContent !== text) { status.textContent = text; }
  }
  ["focusin", "focusout", "input", "change"].forEach(function (name) {
    // After the event's own handlers (focusout fires before the next element takes focus).
    document.addEventListener(name, function () { setTimeout(showPaused, 0); });
  });
  // What a swap applied is no longer an edit: the toolbar's own values (outside the swapped body,
  // sent with every request of the page) become its defaults.
  document.addEventListener("htmx:afterSettle", function () {
    var form = document.getElementById("toolbar");
    var body = document.querySelector("[data-autorefresh]");
    if (!form) { return; }
    Array.prototype.forEach.call(form.elements, function (el) {
      if (body && body.contains(el)) { return; }  // rendered again by the server with its value
      if (el.tagName === "SELECT") {
        Array.prototype.forEach.call(el.options, function (o) { o.defaultSelected = o.selected; });
      } else if (el.type === "checkbox" || el.type === "radio") {
        el.defaultChecked = el.checked;
      } else if (typing(el)) {
        el.defaultValue = el.value;
      }
    });
    showPaused();
  });
  var refreshTimer = null;
  function scheduleRefresh() {
    if (refreshTimer) { clearTimeout(refreshTimer); }
    refreshTimer = setTimeout(function () {
      var body = document.querySelector("[data-autorefresh]");
      if (body && window.htmx && refreshOn() && !editing()) { window.htmx.trigger(body, "obs-refresh"); }
      showPaused();
      scheduleRefresh();
    }, 60000);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("autorefresh");
    if (!box) { return; }
    box.checked = localStorage.getItem("obs-autorefresh") !== "off";
    box.addEventListener("change", function () {
      localStorage.setItem("obs-autorefresh", box.checked ? "on" : "off");
      showPaused();
    });
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
