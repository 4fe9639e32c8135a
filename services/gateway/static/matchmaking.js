/* Matchmaking pages: the form shows the fields of the chosen kind; inputs with data-places get commune
   suggestions (/api/v1/matchmaking/places) in their datalist. Without JavaScript every field shows and
   the server checks them all; a typed commune is resolved by the server. */
(function () {
  "use strict";

  Array.prototype.forEach.call(document.querySelectorAll("input[data-places]"), function (input) {
    var list = document.getElementById(input.getAttribute("data-places"));
    if (!list) return;
    var timer = null, seq = 0;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var q = input.value.trim();
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
  });

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
})();
