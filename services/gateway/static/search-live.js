/* Search as you type: while the visitor types (or changes the sort), the results, facets, filter chips
   and pagination of the search page are fetched again (the page itself, debounced; an answer that
   arrives after a newer request is dropped) and swapped in; the URL follows (history.replaceState),
   so it stays shareable and the back button is not flooded. The map keeps its view and reads the new
   search on its next move. Progressive enhancement: without this script the form submits as before. */
(function () {
  "use strict";
  var form = document.getElementById("search-form");
  var input = document.getElementById("q");
  if (!form || !input || !window.fetch || !window.history || !window.DOMParser) return;
  var DELAY_MS = 300;
  var timer = null, seq = 0, controller = null;
  var last = location.search.replace(/^\?/, "");

  var queryString = function () {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) {
      if (typeof value === "string" && value !== "" && key !== "page") params.append(key, value);
    });
    return params.toString();
  };

  var swap = function (html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var oldLayout = document.querySelector("main .layout"), newLayout = doc.querySelector("main .layout");
    var main = document.querySelector("main");
    // chips and error messages: replaced (they sit between the form and the results)
    Array.prototype.forEach.call(main.querySelectorAll(":scope > .chips, :scope > .error"), function (n) { n.remove(); });
    var anchor = oldLayout || null;
    Array.prototype.forEach.call(doc.querySelectorAll("main > .chips, main > .error"), function (n) {
      main.insertBefore(document.importNode(n, true), anchor);
    });
    if (!newLayout) {  // an invalid search: the error says why
      if (oldLayout) oldLayout.hidden = true;
      return true;
    }
    if (!oldLayout) return false;  // the page showed no results at all: load it whole
    oldLayout.hidden = false;
    var oldFacets = oldLayout.querySelector(".facets"), newFacets = newLayout.querySelector(".facets");
    if (oldFacets && newFacets) oldFacets.replaceWith(document.importNode(newFacets, true));
    var results = oldLayout.querySelector(".results"), fresh = newLayout.querySelector(".results");
    var total = results.querySelector("#total"), freshTotal = fresh.querySelector("#total");
    // the live region stays the same node: its new text is announced
    if (total && freshTotal) total.textContent = freshTotal.textContent;
    Array.prototype.forEach.call(results.children, function (n) {
      if (!n.classList.contains("map-box") && n.id !== "total") n.dataset.stale = "1";
    });
    Array.prototype.forEach.call(results.querySelectorAll(":scope > [data-stale]"), function (n) { n.remove(); });
    Array.prototype.forEach.call(fresh.children, function (n) {
      if (!n.classList.contains("map-box") && n.id !== "total") results.appendChild(document.importNode(n, true));
    });
    var map = document.getElementById("map"), freshMap = fresh.querySelector("#map");
    if (map && freshMap) map.dataset.api = freshMap.dataset.api;  // the next map move loads this search
    return true;
  };

  var update = function () {
    var qs = queryString();
    if (qs === last) return;
    last = qs;
    var mine = ++seq;
    if (controller) controller.abort();
    controller = window.AbortController ? new AbortController() : null;
    form.setAttribute("aria-busy", "true");
    fetch("/?" + qs, { headers: { "Accept": "text/html" }, signal: controller ? controller.signal : undefined })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        if (mine !== seq) return;
        if (!swap(html)) { location.assign(qs ? "/?" + qs : "/"); return; }
        history.replaceState(history.state, "", qs ? "/?" + qs : "/");
        document.body.dataset.liveSearch = qs;  // what the results on screen are for
      })
      .catch(function (e) { if (!e || e.name !== "AbortError") last = null; })
      .then(function () { if (mine === seq) form.removeAttribute("aria-busy"); });
  };

  var later = function () { clearTimeout(timer); timer = setTimeout(update, DELAY_MS); };
  input.addEventListener("input", later);
  var sort = document.getElementById("sort");
  if (sort) sort.addEventListener("change", later);
})();
