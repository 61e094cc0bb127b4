/* Civic reports: the public map, placing a report, hotspots. Progressive enhancement only:
   every page works without this file. Settings come from data- attributes (the CSP allows no
   inline script). Markers and district outlines are vector layers, so they show even when the
   tile server cannot be reached. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function json(value, fallback) {
    try { return value ? JSON.parse(value) : fallback; } catch (e) { return fallback; }
  }

  var STATE_CLASSES = ["open", "open", "open", "fixed", "closed"];

  function baseMap(el) {
    var map = L.map(el, { zoomControl: true, attributionControl: true, tap: true });
    var tiles = el.dataset.tileUrl;
    if (tiles) {
      L.tileLayer(tiles, {
        maxZoom: 19,
        attribution: tiles.indexOf("openstreetmap") >= 0 ? "&copy; OpenStreetMap contributors" : ""
      }).addTo(map);
    }
    var bounds = json(el.dataset.bounds, null);
    if (bounds) map.fitBounds([[bounds[0], bounds[1]], [bounds[2], bounds[3]]]);
    else map.setView([0, 0], 2);
    if (el.dataset.districtsUrl) {
      fetch(el.dataset.districtsUrl, { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          L.geoJSON(data, {
            interactive: false,
            style: { color: "#0b5cad", weight: 2, opacity: 0.9, fillColor: "#0b5cad", fillOpacity: 0.04 }
          }).addTo(map);
        })
        .catch(function () { /* outlines are a help, not a need */ });
    }
    return map;
  }

  function icon(className, html, size) {
    return L.divIcon({ className: className, html: html || "", iconSize: [size, size], iconAnchor: [size / 2, size / 2] });
  }

  function escapeHtml(text) {
    var div = document.createElement("div");
    div.textContent = text == null ? "" : String(text);
    return div.innerHTML;
  }

  /* --- Browse: server-side clusters when zoomed out, points (clustered here) when zoomed in. */
  function browse(el) {
    var map = baseMap(el);
    var categories = json(el.dataset.categories, {});
    var states = json(el.dataset.states, []);
    var detailUrl = el.dataset.detailUrl.replace(/0$/, "");
    var layer = L.layerGroup().addTo(map);
    var filters = document.getElementById("report-filters");
    var timer = null;
    var pending = null;

    function pointMarker(p) {
      var stateClass = p[5] ? "overdue" : STATE_CLASSES[p[4]];
      var label = (categories[p[3]] || "") + " #" + p[0] + " · " + (states[p[4]] || "");
      var marker = L.marker([p[1], p[2]], {
        icon: icon("report-marker report-marker-" + stateClass, "", 22),
        title: label,
        keyboard: true
      });
      marker.bindPopup('<a href="' + detailUrl + p[0] + '">' + escapeHtml(label) + "</a>");
      return marker;
    }

    function render(data) {
      layer.clearLayers();
      if (data.mode === "points") {
        var group = L.markerClusterGroup ? L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 40 }) : L.layerGroup();
        data.points.forEach(function (p) { group.addLayer(pointMarker(p)); });
        layer.addLayer(group);
        return;
      }
      data.clusters.forEach(function (c) {
        if (c[0] === 1) {
          var single = L.marker([c[1], c[2]], {
            icon: icon("report-marker report-marker-open", "", 22),
            title: "#" + c[3],
            keyboard: true
          });
          single.bindPopup('<a href="' + detailUrl + c[3] + '">#' + c[3] + "</a>");
          layer.addLayer(single);
          return;
        }
        var size = c[0] < 10 ? 34 : c[0] < 100 ? 42 : c[0] < 1000 ? 50 : 58;
        var marker = L.marker([c[1], c[2]], {
          icon: icon("report-cluster", "<span>" + c[0] + "</span>", size),
          title: c[0] + " " + (el.dataset.labelReports || "") + " · " + (el.dataset.labelZoom || ""),
          keyboard: true
        });
        marker.on("click", function () { map.setView([c[1], c[2]], Math.min(map.getZoom() + 2, 18)); });
        layer.addLayer(marker);
      });
    }

    function load() {
      var b = map.getBounds();
      var params = new URLSearchParams(filters ? new FormData(filters) : undefined);
      params.set("bbox", [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(5); }).join(","));
      params.set("zoom", map.getZoom());
      if (pending && pending.abort) pending.abort();
      pending = window.AbortController ? new AbortController() : null;
      fetch(el.dataset.mapUrl + "?" + params.toString(), { credentials: "same-origin", signal: pending ? pending.signal : undefined })
        .then(function (r) { return r.json(); })
        .then(render)
        .catch(function () { /* a newer request replaced this one */ });
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(load, 200);
    }

    map.on("moveend", schedule);
    if (filters) filters.addEventListener("change", schedule);
    el.dataset.ready = "1";
    load();
  }

  /* --- Place: geolocation, tap the map, drag the pin; the coordinate fields stay the truth. */
  function place(el) {
    var map = baseMap(el);
    var lat = document.getElementById("latitude");
    var lon = document.getElementById("longitude");
    var status = document.getElementById("location-status");
    var marker = null;

    function announce(text) { if (status) status.textContent = text || ""; }

    function set(latitude, longitude, zoomIn) {
      lat.value = latitude.toFixed(6);
      lon.value = longitude.toFixed(6);
      if (!marker) {
        marker = L.marker([latitude, longitude], {
          draggable: true,
          keyboard: true,
          title: el.dataset.labelPin || "",
          icon: icon("report-marker report-marker-new", "", 28)
        }).addTo(map);
        marker.on("dragend", function () {
          var p = marker.getLatLng();
          set(p.lat, p.lng, false);
        });
      } else {
        marker.setLatLng([latitude, longitude]);
      }
      if (zoomIn) map.setView([latitude, longitude], Math.max(map.getZoom(), 17));
      document.body.dispatchEvent(new CustomEvent("civic:located", { bubbles: true }));
    }

    map.on("click", function (e) { set(e.latlng.lat, e.latlng.lng, false); });

    [lat, lon].forEach(function (input) {
      input.addEventListener("change", function () {
        var a = parseFloat(lat.value), b = parseFloat(lon.value);
        if (!isNaN(a) && !isNaN(b)) set(a, b, true);
      });
    });

    var button = document.getElementById("use-location");
    if (button) {
      if (!("geolocation" in navigator)) button.parentNode.hidden = true;
      button.addEventListener("click", function () {
        announce(el.dataset.labelLocating);
        navigator.geolocation.getCurrentPosition(
          function (position) {
            set(position.coords.latitude, position.coords.longitude, true);
            announce(el.dataset.labelLocated);
          },
          function () { announce(el.dataset.labelDenied); },
          { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
        );
      });
    }

    var startLat = parseFloat(lat.value), startLon = parseFloat(lon.value);
    if (!isNaN(startLat) && !isNaN(startLon)) set(startLat, startLon, true);

    // Having seen nearby reports and carried on means "mine is new": skip the server's check.
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (!event.detail || !event.detail.target || event.detail.target.id !== "nearby") return;
      var form = event.detail.target.closest("form");
      var flag = form.querySelector("input[name=confirm_new]");
      if (!flag) {
        flag = document.createElement("input");
        flag.type = "hidden";
        flag.name = "confirm_new";
        form.appendChild(flag);
      }
      flag.value = event.detail.target.querySelector(".nearby-item") ? "1" : "";
    });
    el.dataset.ready = "1";
  }

  /* --- Hotspots: H3 hexagons, darker where problems recur in more weeks. */
  function hotspots(el) {
    var map = baseMap(el);
    var cells = json(el.dataset.hexagons, []);
    var maxWeeks = cells.reduce(function (m, c) { return Math.max(m, c.w); }, 1);
    var group = L.featureGroup().addTo(map);
    cells.forEach(function (c) {
      L.polygon(c.b, {
        color: "#8a1c12",
        weight: 1,
        fillColor: "#b3261e",
        fillOpacity: 0.15 + 0.6 * (c.w / maxWeeks)
      }).bindTooltip(String(c.n)).addTo(group);
    });
    if (cells.length) map.fitBounds(group.getBounds(), { maxZoom: 15 });
    el.dataset.ready = "1";
  }

  ready(function () {
    Array.prototype.forEach.call(document.querySelectorAll(".js-only[hidden]"), function (node) {
      node.hidden = false;
    });
    if (typeof L === "undefined") return;
    var modes = { browse: browse, place: place, hotspots: hotspots };
    Array.prototype.forEach.call(document.querySelectorAll("[data-mode]"), function (el) {
      var fn = modes[el.dataset.mode];
      if (fn) fn(el);
    });
  });
})();
