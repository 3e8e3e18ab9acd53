// kyphos record forms: live ODI and MRI-acuity read-outs, "add a level", delete prompt.
// The numbers come from the server (/forms/odi, /forms/acuity: kyphos.clinical), never
// from a second copy of the rules here.
(function () {
  "use strict";
  var form = document.querySelector("form.record-form");
  if (!form) { return; }
  var lang = form.getAttribute("data-lang") || "en";

  function text(id, value) {
    var node = document.getElementById(id);
    if (node) { node.textContent = value; }
  }

  var latest = {};
  // Only the answer to the latest request of a read-out is shown: answers can arrive
  // out of order when several fields change quickly.
  function fetchJson(key, url, done) {
    var ticket = (latest[key] || 0) + 1;
    latest[key] = ticket;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (answer) {
        return answer.json().then(function (body) {
          if (latest[key] === ticket) { done(answer.ok, body); }
        });
      })
      .catch(function () { /* offline: the read-out keeps its last value */ });
  }

  function query(names) {
    var parts = ["lang=" + encodeURIComponent(lang)];
    names.forEach(function (name) {
      var field = document.getElementById(name);
      if (field && field.value !== "") {
        parts.push(encodeURIComponent(name) + "=" + encodeURIComponent(field.value));
      }
    });
    return parts.join("&");
  }

  var odiNames = [];
  for (var n = 1; n <= 10; n += 1) { odiNames.push("odi_" + n); }
  function updateOdi() {
    fetchJson("odi", "/forms/odi?" + query(odiNames), function (ok, body) {
      if (!ok) {
        text("odi-percent", "—");
        text("odi-band", "");
        text("odi-reason", (body.detail || []).map(function (d) { return d.msg; }).join("; "));
        return;
      }
      text("odi-percent", body.percent_text ? body.percent_text + " %" : "—");
      text("odi-band", body.band_label || "");
      text("odi-reason", body.reason || "");
      var answered = document.getElementById("odi-answered");
      if (answered) {
        answered.textContent = answered.textContent.replace(/[0-9]+/, String(body.answered));
      }
    });
  }

  var mriNames = ["mri_t1", "mri_t2", "mri_stir"];
  function updateAcuity() {
    fetchJson("acuity", "/forms/acuity?" + query(mriNames), function (ok, body) {
      text("acuity-verdict", ok ? body.label : "—");
    });
  }

  form.addEventListener("change", function (event) {
    var name = event.target && event.target.name;
    if (odiNames.indexOf(name) >= 0) { updateOdi(); }
    if (mriNames.indexOf(name) >= 0) { updateAcuity(); }
  });

  var addLevel = document.getElementById("add-level");
  var rows = document.getElementById("level-rows");
  var template = document.getElementById("level-row-template");
  if (addLevel && rows && template) {
    addLevel.addEventListener("click", function () {
      var next = 0;
      rows.querySelectorAll(".level-row").forEach(function (row) {
        next = Math.max(next, Number(row.getAttribute("data-index")) + 1);
      });
      var html = template.innerHTML.split("__i__").join(String(next))
        .split("__n__").join(String(next + 1));
      rows.insertAdjacentHTML("beforeend", html);
      var first = rows.querySelector('[data-index="' + next + '"] select, [data-index="' + next + '"] input');
      if (first) { first.focus(); }
    });
  }

  document.querySelectorAll("form.delete-form").forEach(function (deleting) {
    deleting.addEventListener("submit", function (event) {
      if (!window.confirm(deleting.getAttribute("data-confirm") || "Delete?")) {
        event.preventDefault();
      }
    });
  });
}());
