// Alerts forms: show only the fields of the chosen condition (rule form) or channel kind (channel
// form). Without JavaScript every field stays visible and the server ignores the others.
(function () {
  "use strict";
  function sync(select, attribute) {
    var value = select.value;
    document.querySelectorAll("[" + attribute + "]").forEach(function (el) {
      var shown = el.getAttribute(attribute).split(" ").indexOf(value) !== -1;
      el.hidden = !shown;
      el.style.display = shown ? "" : "none";  // .field's display: flex would beat [hidden]
    });
  }
  function bind(selector, attribute) {
    var select = document.querySelector(selector);
    if (!select) { return; }
    sync(select, attribute);
    select.addEventListener("change", function () { sync(select, attribute); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    bind("#id_condition", "data-condition");
    bind("select#id_kind", "data-kind");
  });
})();
