/* Reference and data layers, the map's behaviour in the page, and the legend. */
(function () {
  "use strict";

  var FW = window.Flankwatch, _ = FW._;
  var POPUP = _.POPUP;

  FW.referenceLayer = function (map, o) {
    if (!map.getPane(o.pane)) {
      map.createPane(o.pane);
      map.getPane(o.pane).style.zIndex = o.z;
    }
    var layer = L.geoJSON(null, {
      pane: o.pane, interactive: false,
      style: function (f) {
        var s = o.style;
        if (f.properties && f.properties.km !== undefined) {
          var i = o.kms.indexOf(f.properties.km);
          s = Object.assign({}, s, {fillOpacity: Math.max(0.22 - 0.06 * i, 0.05)});
        }
        return s;
      }
    });
    if (o.data) {
      layer.addData(o.data);
    } else {
      fetch(o.url).then(function (r) { return r.json(); }).then(function (d) { layer.addData(d); });
    }
    return layer;
  };

  FW.dataLayer = function (map, group, collection) {
    var layer = L.geoJSON(collection, {
      style: function (f) { return f.properties.style || {}; },
      pointToLayer: function (f, latlng) {
        var p = f.properties;
        if (!p.icon) { return L.circleMarker(latlng, p.style || {}); }
        var div = document.createElement("div");
        div.className = "fw-deployment";
        div.style.background = p.icon.colour;
        div.textContent = p.icon.letter;
        if (!map.getPane("fwDeployments")) {  // under the incidents (overlay pane, 400)
          map.createPane("fwDeployments");
          map.getPane("fwDeployments").style.zIndex = 390;
        }
        return L.marker(latlng, {pane: "fwDeployments", icon: L.divIcon({html: div,
            className: "", iconSize: [18, 18], iconAnchor: [9, 9]})});
      },
      onEachFeature: function (f, l) {
        if (f.properties.tip) { l.bindTooltip(f.properties.tip); }
        if (f.properties.popup) { l.bindPopup(f.properties.popup, POPUP); }
      }
    });
    group.addLayer(layer);
  };

  /* The wheel scrolls the page until the map is clicked, then zooms the map until the
   * pointer leaves it; the offline basemap's credit; the first view fitted to the
   * selection (o.fit: [[south, west], [north, east]]); measurements kept (see
   * measurements.js); a word on the map when an online basemap's tiles fail (no
   * internet access). */
  FW.behaviour = function (map, o) {
    map.scrollWheelZoom.disable();
    map.on("click", function () { map.scrollWheelZoom.enable(); });
    map.getContainer().addEventListener("mouseleave", function () {
      map.scrollWheelZoom.disable();
    });
    if (o.attribution && map.attributionControl) {
      map.attributionControl.addAttribution(o.attribution);
    }
    if (o.fit) { fitFirstView(map, o.fit); }
    _.keepMeasurements(map);
    warnOfTileErrors(map);
  };

  /* The first view fitted to the selection's box (padded: a ring at the edge is not
   * cut by it), at once (an animated zoom would end after the map's first report to the
   * page, which would then be of the view before); fitted again when the frame changes
   * size in the first moments (a narrow page folding its sidebar as the map opens),
   * unless the reader has touched the map. */
  var REFIT_MS = 2500;

  function fitFirstView(map, box) {
    var until = Date.now() + REFIT_MS, touched = false, container = map.getContainer();
    function fit() { map.fitBounds(box, {padding: [28, 28], maxZoom: 11, animate: false}); }
    ["mousedown", "touchstart", "wheel", "keydown"].forEach(function (kind) {
      container.addEventListener(kind, function () { touched = true; }, {passive: true});
    });
    map.on("resize", function () { if (!touched && Date.now() < until) { fit(); } });
    fit();
  }

  function warnOfTileErrors(map) {
    var warned = false;
    map.eachLayer(function (layer) {
      if (!(layer instanceof L.TileLayer)) { return; }
      layer.on("tileerror", function () {
        if (warned) { return; }
        warned = true;
        var note = L.control({position: "topright"});
        note.onAdd = function () {
          var div = L.DomUtil.create("div", "fw-tile-warning");
          div.setAttribute("role", "alert");
          div.textContent = "The online basemap's tiles did not load (no internet access?). " +
            "Choose the offline basemap in the sidebar.";
          return div;
        };
        note.addTo(map);
      });
    });
  }

  /* The legend: rows built on the server from the project's own labels, and a slot that
   * the density layers fill with their colour scale. */
  FW.legend = function (map, html) {
    // top right (at the default view: Russia, not Belarus), closed unless the map is wide
    var legend = L.control({position: "topright"});
    legend.onAdd = function () {
      var div = L.DomUtil.create("div", "fw-legend");
      var open = map.getSize().x >= 1000 ? " open" : "";  // (a click opens it)
      div.innerHTML = "<details" + open + "><summary>Legend</summary>" + html +
        "<div class=\"fw-density\"></div></details>";
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      // an opened popup is what the reader looks at: the legend folds away
      map.on("popupopen", function () { div.querySelector("details").open = false; });
      return div;
    };
    legend.addTo(map);
  };
})();
