// Keyboard-first reviewing (templates/review/item.html). A static file: the pages run under a CSP
// with no inline script. Keys do nothing while typing in a field (Esc leaves the field).
(function () {
  "use strict";

  function typing(el) {
    if (!el || el === document.body) return false;
    if (el.isContentEditable) return true;
    if (el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
    return el.tagName === "INPUT" && !/^(radio|checkbox|button|submit)$/.test(el.type);
  }

  function setup() {
    var form = document.querySelector("[data-review-form]");
    var help = document.getElementById("keys-help");
    var toggle = document.querySelector("[data-keys-toggle]");
    function toggleHelp() {
      if (!help) return;
      if (help.open) help.close(); else help.showModal();
    }
    if (toggle) toggle.addEventListener("click", toggleHelp);
    var questions = form ? Array.prototype.slice.call(form.querySelectorAll("[data-question]")) : [];
    var current = 0;

    function show(index) {
      if (!questions.length) return;
      current = Math.max(0, Math.min(questions.length - 1, index));
      questions.forEach(function (q, i) { q.classList.toggle("current", i === current); });
      questions[current].scrollIntoView({block: "nearest"});
    }

    function submit(name) {
      var button = form.querySelector(name);
      if (!button) return; // no skip when giving a final verdict
      if (form.requestSubmit) form.requestSubmit(button); else button.click();
    }

    function focusField(id) {
      var field = document.getElementById(id);
      if (field) field.focus();
    }

    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
      var target = event.target;
      if (event.key === "Escape" && typing(target)) { target.blur(); return; }
      if (typing(target)) return;
      if (event.key === "?") { event.preventDefault(); toggleHelp(); return; }
      if (!form || (help && help.open)) return;
      var key = event.key;
      if (/^[1-9]$/.test(key) && questions.length) {
        var option = questions[current].querySelector('input[data-key="' + key + '"]');
        if (option) {
          event.preventDefault();
          option.checked = true;
          if (current < questions.length - 1) show(current + 1);
        }
      } else if (key === "j") { event.preventDefault(); show(current + 1); }
      else if (key === "k") { event.preventDefault(); show(current - 1); }
      else if (key === "c") { event.preventDefault(); focusField("review-comment"); }
      else if (key === "e") { event.preventDefault(); focusField("review-corrected"); }
      else if (key === "s") { event.preventDefault(); submit("[data-skip]"); }
      else if (key === "Enter") {
        // A focused link, button or disclosure does its own thing with Enter.
        if (target && /^(A|BUTTON|SUMMARY)$/.test(target.tagName)) return;
        event.preventDefault();
        submit("[data-submit]");
      }
    });

    questions.forEach(function (q, i) {
      q.addEventListener("focusin", function () { show(i); });
      q.addEventListener("click", function () { show(i); });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
