/* Matchmaking form: show the fields of the chosen kind; commune suggestions (/api/v1/matchmaking/places).
   Without JavaScript every field shows and the server checks them all. */
(function () {
  "use strict";
  var form = document.getElementById("mm-form");
  if (!form) return;

  var kindOf = function () {
    var checked = form.querySelector("input[name=kind]:checked") || form.querySelector("input[type=hidden][name=kind]");
    return checked ? checked.value : "";
  };
  var toggle = function () {
    var kind = kindOf();
    Array.prototype.forEach.call(form.querySelectorAll("[data-kinds]"), function (el) {
      var show = !kind || el.getAttribute("data-kinds").split(" ").indexOf(kind) >= 0;
      el.hidden = !show;
      Array.prototype.forEach.call(el.querySelectorAll("input, select, textarea"), function (f) { f.disabled = !show; });
    });
  };
  Array.prototype.forEach.call(form.querySelectorAll("input[name=kind]"), function (r) { r.addEventListener("change", toggle); });
  toggle();

  var errors = document.getElementById("mm-errors");
  if (errors) errors.focus();

  var commune = document.getElementById("f-commune");
  var list = document.getElementById("mm-communes");
  if (commune && list) {
    var timer = null, seq = 0;
    commune.addEventListener("input", function () {
      clearTimeout(timer);
      var q = commune.value.trim();
      if (q.length < 2) return;
      timer = setTimeout(function () {
        var mine = ++seq;
        fetch("/api/v1/matchmaking/places?" + new URLSearchParams({ q: q, limit: "8" }).toString())
          .then(function (r) { return r.ok ? r.json() : { places: [] }; })
          .then(function (data) {
            if (mine !== seq) return;
            while (list.firstChild) list.removeChild(list.firstChild);
            data.places.forEach(function (p) {
              var o = document.createElement("option");
              o.value = p.label;
              list.appendChild(o);
            });
          });
      }, 150);
    });
  }
})();
