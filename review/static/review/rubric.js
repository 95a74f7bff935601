// The rubric editor of the queue form: questions added, removed and reordered with buttons, each
// kind's fields as inputs, the JSON text area kept in step (it stays the form field, and the whole
// form without JavaScript). A server error on `rubric[i].<key>` is shown on that question's input.
// Reordering uses Move up / Move down buttons rather than a drag-and-drop library: buttons work
// from the keyboard and with screen readers, which drag handles do not by default.
(function () {
  "use strict";

  var KINDS = [["categorical", "Categorical (labels)"], ["numeric", "Numeric range"], ["boolean", "Yes / no"],
               ["text", "Free text"]];
  var KIND_KEYS = ["min", "max", "labels", "values", "approve"];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; } else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  }

  function slug(text) {
    var s = text.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 40);
    return s || "";
  }

  function init(area) {
    var questions;
    try {
      questions = JSON.parse(area.value || "[]");
    } catch (e) {
      return; // not JSON (a bad post): the text area stays as it is, with the server's message
    }
    if (!Array.isArray(questions)) { return; }
    var auto = new WeakSet(); // questions whose name follows their label
    var errorField = area.getAttribute("data-error-field") || "";
    var errorMessage = area.getAttribute("data-error-message") || "";

    var hint = area.parentNode.querySelector("[data-rubric-hint]");
    var editor = el("div", {"class": "rubric-editor", "data-testid": "rubric-editor"});
    var list = el("div", {"class": "rq-list"});
    var add = el("button", {type: "button", "class": "secondary", text: "Add question"});
    var json = el("details", {"class": "rq-json"}, [el("summary", {text: "Edit as JSON"})]);
    area.parentNode.insertBefore(editor, area);
    editor.appendChild(list);
    editor.appendChild(el("p", {}, [add]));
    editor.appendChild(json);
    json.appendChild(area);
    if (hint) { json.appendChild(hint); }

    function sync() {
      area.value = JSON.stringify(questions, null, 2);
    }

    function number(raw) {
      return raw.trim() === "" || isNaN(Number(raw)) ? raw : Number(raw);
    }

    function field(q, i, key, labelText, input) {
      var id = "rq-" + i + "-" + key;
      input.id = id;
      input.setAttribute("data-key", key);
      return el("div", {"class": "field"}, [el("label", {"for": id, text: labelText}), input]);
    }

    function textInput(q, key, onInput) {
      var input = el("input", {type: "text"});
      input.value = q[key] === undefined ? "" : String(q[key]);
      input.addEventListener("input", function () { onInput(input.value); sync(); });
      return input;
    }

    function setKind(q, kind) {
      KIND_KEYS.forEach(function (key) { delete q[key]; });
      delete q.required;
      q.kind = kind;
      if (kind === "numeric") { q.min = 1; q.max = 5; }
      if (kind === "categorical") { q.labels = ["", ""]; }
    }

    // The score each option becomes, as review/rubric.py computes it when none is given: the first
    // 1.0, the last 0.0, evenly spaced. Values equal to these are not stored.
    function defaults(q) {
      var n = q.labels.length;
      return q.labels.map(function (_, j) { return n > 1 ? Math.round((1 - j / (n - 1)) * 1e6) / 1e6 : 1; });
    }

    function custom(q) {
      var base = defaults(q);
      return Array.isArray(q.values) && q.values.length === base.length &&
        q.values.some(function (v, k) { return v !== base[k]; });
    }

    function optionsBlock(q, i) {
      var box = el("fieldset", {"class": "rq-options", "data-key": "labels"}, [
        el("legend", {text: "Options, best first"})]);
      q.labels = Array.isArray(q.labels) ? q.labels : [];
      q.labels.forEach(function (label, j) {
        var input = el("input", {type: "text", id: "rq-" + i + "-opt-" + j, placeholder: "Option " + (j + 1)});
        input.value = label;
        input.addEventListener("input", function () {
          var before = q.labels[j];
          q.labels[j] = input.value;
          if (Array.isArray(q.approve)) {
            q.approve = q.approve.map(function (a) { return a === before ? input.value : a; });
          }
          sync();
        });
        var approve = el("input", {type: "checkbox", id: "rq-" + i + "-approve-" + j});
        approve.checked = Array.isArray(q.approve) && q.approve.indexOf(label) >= 0;
        approve.addEventListener("change", function () {
          var set = (q.approve || []).filter(function (a) { return a !== q.labels[j]; });
          if (approve.checked) { set.push(q.labels[j]); }
          if (set.length) { q.approve = set; } else { delete q.approve; }
          sync();
        });
        var score = el("input", {type: "number", step: "any", "class": "narrow", id: "rq-" + i + "-value-" + j,
                                 placeholder: String(defaults(q)[j]), "aria-label": "Score of option " + (j + 1)});
        score.value = Array.isArray(q.values) && q.values[j] !== undefined ? String(q.values[j]) : "";
        score.addEventListener("input", function () {
          var base = defaults(q);
          var values = Array.isArray(q.values) && q.values.length === base.length ? q.values.slice() : base.slice();
          values[j] = score.value.trim() === "" ? base[j] : number(score.value);
          if (values.every(function (v, k) { return v === base[k]; })) { delete q.values; } else { q.values = values; }
          sync();
        });
        var remove = el("button", {type: "button", "class": "secondary", text: "Remove option",
                                   "aria-label": "Remove option " + (j + 1)});
        remove.addEventListener("click", function () {
          var kept = custom(q);
          var gone = q.labels.splice(j, 1)[0];
          if (kept) { q.values.splice(j, 1); } else { delete q.values; } // defaults follow the options
          if (Array.isArray(q.approve)) {
            q.approve = q.approve.filter(function (a) { return a !== gone; });
            if (!q.approve.length) { delete q.approve; }
          }
          render("rq-" + i + "-opt-" + Math.max(0, j - 1));
        });
        box.appendChild(el("div", {"class": "rq-option"}, [
          el("label", {"for": input.id, "class": "sr-only", text: "Option " + (j + 1)}), input,
          el("label", {"for": score.id, "class": "inline small", text: "scores"}), score,
          el("label", {"for": approve.id, "class": "inline small"}, [approve, document.createTextNode(" approves")]),
          remove]));
      });
      var more = el("button", {type: "button", "class": "secondary", text: "Add option"});
      more.addEventListener("click", function () {
        var kept = custom(q);
        q.labels.push("");
        if (kept) { q.values.push(0); } else { delete q.values; } // a new last option scores 0 until set
        render("rq-" + i + "-opt-" + (q.labels.length - 1));
      });
      box.appendChild(more);
      return box;
    }

    function kindFields(q, i) {
      var out = [];
      if (q.kind === "numeric") {
        ["min", "max"].forEach(function (key) {
          var input = el("input", {type: "number", step: "any", "class": "narrow"});
          input.value = q[key] === undefined ? "" : String(q[key]);
          input.addEventListener("input", function () {
            if (input.value === "") { delete q[key]; } else { q[key] = number(input.value); }
            sync();
          });
          out.push(field(q, i, key, key === "min" ? "From" : "To", input));
        });
      } else if (q.kind === "categorical") {
        out.push(optionsBlock(q, i));
      } else if (q.kind === "boolean") {
        var select = el("select", {});
        [["", "Neither"], ["true", "Yes"], ["false", "No"]].forEach(function (pair) {
          var option = el("option", {value: pair[0], text: pair[1]});
          if (Array.isArray(q.approve) && String(q.approve[0]) === pair[0]) { option.selected = true; }
          select.appendChild(option);
        });
        select.addEventListener("change", function () {
          if (select.value === "") { delete q.approve; } else { q.approve = [select.value === "true"]; }
          sync();
        });
        out.push(field(q, i, "approve", "The answer that approves the output", select));
      }
      return out;
    }

    function questionBlock(q, i) {
      var box = el("fieldset", {"class": "rq", "data-index": String(i)}, [
        el("legend", {text: "Question " + (i + 1)})]);
      var nameInput = textInput(q, "name", function (value) { q.name = value; auto.delete(q); });
      var labelInput = textInput(q, "label", function (value) {
        q.label = value;
        if (auto.has(q)) { q.name = slug(value); nameInput.value = q.name; }
      });
      var kind = el("select", {});
      KINDS.forEach(function (pair) {
        var option = el("option", {value: pair[0], text: pair[1]});
        option.selected = q.kind === pair[0];
        kind.appendChild(option);
      });
      kind.addEventListener("change", function () { setKind(q, kind.value); render("rq-" + i + "-kind"); });
      var required = el("input", {type: "checkbox"});
      required.checked = q.required === undefined ? q.kind !== "text" : Boolean(q.required);
      required.addEventListener("change", function () { q.required = required.checked; sync(); });
      var buttons = el("div", {"class": "rq-buttons"});
      [["up", "Move up", i > 0], ["down", "Move down", i < questions.length - 1], ["remove", "Remove question", true]]
        .forEach(function (spec) {
          if (!spec[2]) { return; }
          var button = el("button", {type: "button", "class": spec[0] === "remove" ? "danger" : "secondary",
                                     id: "rq-" + i + "-" + spec[0], text: spec[1]});
          button.addEventListener("click", function () {
            if (spec[0] === "remove") {
              questions.splice(i, 1);
              render(questions.length ? "rq-" + Math.min(i, questions.length - 1) + "-label" : null);
              return;
            }
            var to = spec[0] === "up" ? i - 1 : i + 1;
            questions.splice(to, 0, questions.splice(i, 1)[0]);
            var keep = spec[0] === "up" && to > 0 || spec[0] === "down" && to < questions.length - 1;
            render("rq-" + to + "-" + (keep ? spec[0] : spec[0] === "up" ? "down" : "up"));
          });
          buttons.appendChild(button);
        });
      box.appendChild(field(q, i, "label", "Label", labelInput));
      box.appendChild(field(q, i, "name", "Name (the score is review.<queue>.<name>)", nameInput));
      box.appendChild(field(q, i, "kind", "Kind", kind));
      box.appendChild(field(q, i, "help", "Help for reviewers (optional)", textInput(q, "help", function (value) {
        if (value) { q.help = value; } else { delete q.help; }
      })));
      kindFields(q, i).forEach(function (node) { box.appendChild(node); });
      box.appendChild(el("label", {"class": "inline", "for": "rq-" + i + "-required"}, [required,
        document.createTextNode(" Required")]));
      required.id = "rq-" + i + "-required";
      required.setAttribute("data-key", "required");
      box.appendChild(buttons);
      return box;
    }

    function showError() {
      var match = /^rubric\[(\d+)\]\.(\w+)/.exec(errorField);
      var target = null;
      if (match) {
        var box = list.querySelector('fieldset.rq[data-index="' + match[1] + '"]');
        if (box) {
          target = box.querySelector('[data-key="' + match[2] + '"]') ||
                   (match[2] === "values" ? box.querySelector('[data-key="labels"]') : null) || box;
        }
      } else if (errorField === "rubric") {
        target = list;
      }
      if (!target) { return; }
      var note = el("p", {"class": "error-text", role: "alert", "data-testid": "rubric-error",
                          text: errorField + ": " + errorMessage});
      (target.tagName === "FIELDSET" || target === list ? target : target.parentNode).appendChild(note);
      target.setAttribute("aria-invalid", "true");
      if (target.focus && target.tagName !== "FIELDSET" && target !== list) { target.focus(); }
    }

    function render(focusId) {
      list.textContent = "";
      questions.forEach(function (q, i) { list.appendChild(questionBlock(q, i)); });
      if (!questions.length) { list.appendChild(el("p", {"class": "muted", text: "No questions yet."})); }
      sync();
      if (focusId) {
        var target = document.getElementById(focusId);
        if (target) { target.focus(); }
      }
    }

    add.addEventListener("click", function () {
      var q = {name: "", label: "", kind: "categorical", labels: ["", ""]};
      auto.add(q);
      questions.push(q);
      render("rq-" + (questions.length - 1) + "-label");
    });
    // Hand edits of the JSON rebuild the editor when they parse.
    area.addEventListener("change", function () {
      try {
        var parsed = JSON.parse(area.value);
        if (Array.isArray(parsed)) { questions = parsed; render(null); }
      } catch (e) { /* left for the server to name */ }
    });
    render(null);
    if (errorField) {
      if (errorField === "rubric" || !/^rubric\[/.test(errorField)) { json.open = errorField === "rubric"; }
      showError();
    }
  }

  document.querySelectorAll("textarea[data-rubric-editor]").forEach(init);
})();
