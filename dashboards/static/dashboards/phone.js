// Small screens: the range-and-filters bar folds behind a "Filters" button (app.css shows the
// button and hides the bar only below 640 px; wider screens never see either). The button says how
// many filters are set, so a folded bar still tells what the page shows. Without JavaScript the bar
// simply stays open. The bar may be re-rendered by htmx, so it is set up again after each swap.
(function () {
  "use strict";

  function applied(bar) {
    var count = 0;
    bar.querySelectorAll("select[name]:not([name=range]), input[name]:not([type=hidden]):not([disabled])")
      .forEach(function (field) { if (field.value) { count += 1; } });
    return count;
  }

  function label(bar, button) {
    var count = applied(bar);
    button.textContent = "Filters" + (count ? " (" + count + ")" : "");
  }

  function setUp(root) {
    (root || document).querySelectorAll("[data-fold]").forEach(function (bar) {
      var button = bar.querySelector(".filters-toggle");
      if (!button) { return; }
      if (!bar.dataset.folded) {  // the first time only: a swap keeps the user's choice
        bar.dataset.folded = "yes";
        bar.classList.add("folded");
      }
      button.setAttribute("aria-expanded", bar.classList.contains("folded") ? "false" : "true");
      label(bar, button);
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".filters-toggle");
    if (!button) { return; }
    var bar = button.closest("[data-fold]");
    var folded = bar.classList.toggle("folded");
    button.setAttribute("aria-expanded", folded ? "false" : "true");
  });
  document.addEventListener("change", function (event) {
    var bar = event.target.closest && event.target.closest("[data-fold]");
    var button = bar && bar.querySelector(".filters-toggle");
    if (button) { label(bar, button); }
  });
  document.addEventListener("DOMContentLoaded", function () { setUp(document); });
  document.addEventListener("htmx:afterSettle", function () { setUp(document); });
})();
