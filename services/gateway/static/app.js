/* Carrefour: suggestions in the search box; on a phone the filter drawer and the map/list toggle;
   "voir plus" on long filter groups. The maps are in map.js. */
(function () {
  "use strict";

  // ------------------------------------------------------------------ suggestions (ARIA combobox)
  var input = document.getElementById("q");
  var list = document.getElementById("suggestions");
  var status = document.getElementById("suggest-status");
  if (input && list) {
    var timer = null, items = [], active = -1, seq = 0;
    var close = function () {
      list.hidden = true; list.textContent = ""; items = []; active = -1;
      input.setAttribute("aria-expanded", "false"); input.removeAttribute("aria-activedescendant");
    };
    var choose = function (item) {
      if (item.href) { window.location.assign(item.href); return; }
    };
    var render = function (data) {
      list.textContent = ""; items = []; active = -1;
      (data.terms || []).forEach(function (t) {
        items.push({ label: t.label, kind: "thématique", href: "/?" + new URLSearchParams([[t.facet, t.value]]).toString() });
      });
      (data.projects || []).forEach(function (p) {
        items.push({ label: p.title, kind: p.commune_name || "projet", href: "/projets/" + encodeURIComponent(p.id) });
      });
      items.forEach(function (item, i) {
        var li = document.createElement("li");
        li.id = "suggestion-" + i; li.setAttribute("role", "option"); li.setAttribute("aria-selected", "false");
        li.textContent = item.label;  // partner text: never as HTML
        var kind = document.createElement("span"); kind.className = "kind"; kind.textContent = item.kind;
        li.appendChild(kind);
        li.addEventListener("mousedown", function (e) { e.preventDefault(); choose(item); });
        list.appendChild(li);
      });
      list.hidden = items.length === 0;
      input.setAttribute("aria-expanded", items.length ? "true" : "false");
      if (status) status.textContent = items.length ? items.length + " suggestions" : "";
    };
    var move = function (delta) {
      if (!items.length) return;
      active = (active + delta + items.length) % items.length;
      Array.prototype.forEach.call(list.children, function (li, i) { li.setAttribute("aria-selected", i === active ? "true" : "false"); });
      input.setAttribute("aria-activedescendant", "suggestion-" + active);
    };
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var q = input.value.trim();
      if (q.length < 2) { close(); return; }
      timer = setTimeout(function () {
        var mine = ++seq;
        fetch("/api/v1/suggest?" + new URLSearchParams({ q: q, limit: "6" }).toString())
          .then(function (r) { return r.ok ? r.json() : { projects: [], terms: [] }; })
          .then(function (data) { if (mine === seq) render(data); })
          .catch(close);
      }, 150);
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown") { e.preventDefault(); move(1); }
      else if (e.key === "ArrowUp") { e.preventDefault(); move(-1); }
      else if (e.key === "Escape") { close(); }
      else if (e.key === "Enter" && active >= 0) { e.preventDefault(); choose(items[active]); }
    });
    input.addEventListener("blur", function () { setTimeout(close, 100); });
  }

  // ------------------------------------------------------------------ phone: filter drawer, map/list toggle
  var results = document.getElementById("results");
  var filters = document.getElementById("filters");
  var opener = document.getElementById("open-filters");
  var setDrawer = function (open) {
    if (!filters || !opener) return;
    filters.classList.toggle("open", open);
    document.body.classList.toggle("drawer-open", open);
    opener.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) { var first = filters.querySelector("button, a, summary"); if (first) first.focus(); }
    else opener.focus();
  };
  if (opener) opener.addEventListener("click", function () { setDrawer(true); });
  document.addEventListener("click", function (e) {
    var t = e.target.closest ? e.target.closest(".close-filters") : null;
    if (t) setDrawer(false);
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && filters && filters.classList.contains("open")) setDrawer(false);
  });
  var toggle = document.getElementById("toggle-view");
  if (toggle && results) {
    toggle.addEventListener("click", function () {
      var toMap = !results.classList.contains("view-map");
      results.classList.toggle("view-map", toMap);
      results.classList.toggle("view-list", !toMap);
      toggle.setAttribute("aria-pressed", toMap ? "true" : "false");
      toggle.textContent = toMap ? "Liste" : "Carte";
      if (toMap) document.dispatchEvent(new CustomEvent("carrefour:map-shown"));
    });
  }

  // ------------------------------------------------------------------ long filter groups: "voir plus"
  var collapse = function (root) {
    Array.prototype.forEach.call((root || document).querySelectorAll("ul.collapsed[data-more]"), function (ul) {
      if (ul.nextElementSibling && ul.nextElementSibling.classList.contains("more")) return;
      var more = document.createElement("button");
      more.type = "button"; more.className = "more"; more.setAttribute("aria-expanded", "false");
      more.textContent = "Voir plus (" + ul.getAttribute("data-more") + ")";
      more.addEventListener("click", function () {
        var open = ul.classList.toggle("collapsed");
        more.setAttribute("aria-expanded", open ? "false" : "true");
        more.textContent = open ? "Voir plus (" + ul.getAttribute("data-more") + ")" : "Voir moins";
      });
      ul.insertAdjacentElement("afterend", more);
    });
  };
  collapse();
  document.addEventListener("carrefour:results", function () { collapse(); });

  // ------------------------------------------------------------------ report form: the other project's
  // address only for a duplicate (always shown without JavaScript, or when it holds an error)
  var report = document.getElementById("report-form");
  var dup = document.getElementById("r-duplicate");
  if (report && dup) {
    var box = dup.parentNode;
    var syncReport = function () {
      var kind = report.querySelector("input[name=kind]:checked");
      box.hidden = !(kind && kind.value === "duplicate") && !dup.hasAttribute("aria-invalid") && !dup.value;
    };
    report.addEventListener("change", syncReport);
    syncReport();
  }
})();
