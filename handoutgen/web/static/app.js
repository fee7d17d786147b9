// Progressive help for the front-desk page: the page works without it.
"use strict";
(function () {
  // Show only the patient fields the chosen documents use.
  function update(form) {
    var kinds = Array.prototype.map.call(form.querySelectorAll("input[name=documents]:checked"),
                                         function (box) { return box.value; });
    form.querySelectorAll("[data-kinds]").forEach(function (field) {
      var uses = field.getAttribute("data-kinds").split(" ");
      field.hidden = kinds.length > 0 && !uses.some(function (k) { return kinds.indexOf(k) >= 0; });
    });
    form.querySelectorAll("[data-packet]").forEach(function (el) { el.hidden = kinds.length < 2; });
  }
  function poll(job) {
    var url = job.getAttribute("data-status-url");
    function tick() {
      fetch(url, {credentials: "same-origin", cache: "no-store"}).then(function (r) { return r.json(); })
        .then(function (s) {
          if (s.state !== "running") { window.location.reload(); return; }
          var bar = document.getElementById("progress"), text = document.getElementById("progress-text");
          bar.max = s.total; bar.value = s.done;
          text.textContent = s.done + " of " + s.total + " documents for " + s.rows + (s.rows === 1 ? " row." : " rows.");
          window.setTimeout(tick, 500);
        }).catch(function () { window.setTimeout(tick, 2000); });
    }
    window.setTimeout(tick, 300);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("handout-form");
    if (form) {
      update(form);
      form.addEventListener("change", function () { update(form); });
      form.addEventListener("submit", function (event) {
        var button = event.submitter;
        if (!button || button.value !== "print" && button.value !== "download") {
          form.setAttribute("aria-busy", "true");
        }
      });
    }
    var job = document.getElementById("job");
    if (job && job.getAttribute("data-state") === "running") { poll(job); }
    var target = document.querySelector("[data-focus]");
    if (target) { target.focus(); }
  });
})();
