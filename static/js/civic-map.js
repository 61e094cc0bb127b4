/* Civic maps: district outlines and points from GeoJSON, clustered; optional pin picking.
   Works with no tile server reachable: outlines and markers are drawn by Leaflet itself. */
(function () {
  "use strict";
  function fetchJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.json();
    });
  }
  function setup(el) {
    if (!window.L || el.dataset.ready) return;
    el.dataset.ready = "1";
    el.classList.add("map-live");
    var map = L.map(el, { scrollWheelZoom: false });
    if (el.dataset.tiles) {
      L.tileLayer(el.dataset.tiles, { maxZoom: 19, attribution: "&copy; OpenStreetMap" }).addTo(map);
    }
    var bounds = null;
    var ready = [];
    if (el.dataset.districts) {
      ready.push(fetchJSON(el.dataset.districts).then(function (data) {
        var layer = L.geoJSON(data, { style: { color: "#0b5cad", weight: 2, fillOpacity: 0.05, className: "district-outline" } }).addTo(map);
        if (layer.getLayers().length) bounds = layer.getBounds();
      }).catch(function () {}));
    }
    if (el.dataset.points) {
      ready.push(fetchJSON(el.dataset.points).then(function (data) {
        var cluster = L.markerClusterGroup ? L.markerClusterGroup() : L.layerGroup();
        L.geoJSON(data, {
          pointToLayer: function (feature, latlng) {
            return L.circleMarker(latlng, { radius: 8, color: "#0b5cad", fillColor: "#ffbf47", fillOpacity: 0.9, weight: 2, className: "map-point" });
          },
          onEachFeature: function (feature, layer) {
            var p = feature.properties || {};
            var a = document.createElement("a");
            a.href = p.url || "#";
            a.textContent = p.title || "";
            layer.bindPopup(a);
          }
        }).eachLayer(function (l) { cluster.addLayer(l); });
        cluster.addTo(map);
      }).catch(function () {}));
    }
    Promise.all(ready).then(function () {
      if (bounds) map.fitBounds(bounds, { padding: [8, 8] }); else map.setView([0, 0], 2);
    });
    if (el.dataset.pick) {
      var latInput = document.getElementById(el.dataset.latField);
      var lonInput = document.getElementById(el.dataset.lonField);
      var marker = null;
      var place = function (latlng) {
        if (marker) marker.setLatLng(latlng); else marker = L.marker(latlng).addTo(map);
        if (latInput) latInput.value = latlng.lat.toFixed(6);
        if (lonInput) lonInput.value = latlng.lng.toFixed(6);
      };
      map.on("click", function (e) { place(e.latlng); });
      if (latInput && lonInput && latInput.value && lonInput.value) {
        place(L.latLng(parseFloat(latInput.value), parseFloat(lonInput.value)));
      }
    }
  }
  function init() { document.querySelectorAll(".map").forEach(setup); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
