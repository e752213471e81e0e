/* Density of the incidents that pass the filters and the time window: hexagons (counts
 * in H3 cells, a colour per count class) and heat (leaflet.heat), each writing its
 * colour scale into the legend. */
(function () {
  "use strict";

  var FW = window.Flankwatch, _ = FW._;

  /* H3 resolution for a zoom level: cells a few dozen pixels across. */
  function h3Resolution(zoom) {
    return Math.max(1, Math.min(9, Math.round(zoom) - 2));
  }

  var RAMP = ["#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c",
              "#b10026"];

  /* Colour class of a count in [1, max]: equal steps of log(count). */
  function rampIndex(count, max) {
    if (max <= 1) { return RAMP.length - 1; }
    return Math.min(RAMP.length - 1, Math.floor(RAMP.length * Math.log(count) / Math.log(max + 1)));
  }

  /* A colour bar with its numbers: logarithmic from 1 (hexagons), or linear from 0
   * (the heatmap's shading). */
  function scaleHtml(title, max, note, linear) {
    var html = "<div><b>" + title + "</b></div><div class=\"fw-ramp\">";
    RAMP.forEach(function (c) { html += "<i style=\"background:" + c + "\"></i>"; });
    var middle = linear ? Math.round(max / 2) : Math.round(Math.exp(Math.log(max + 1) / 2));
    var labels = [linear ? 0 : 1, middle, max].filter(function (v, k, all) {
      return all.indexOf(v) === k;
    });
    html += "</div><div class=\"fw-ramp-labels\"><span>" + labels.join("</span><span>") +
      "</span></div><div class=\"fw-small\">" + note + "</div>";
    return html;
  }

  /* The legend's place for a density layer's colour scale (null: no legend). */
  function densitySlot(map, key) {
    var legend = map.getContainer().querySelector(".fw-legend .fw-density");
    if (!legend) { return null; }
    var slot = legend.querySelector("[data-layer=" + key + "]");
    if (!slot) {
      slot = document.createElement("div");
      slot.setAttribute("data-layer", key);
      legend.appendChild(slot);
    }
    return slot;
  }

  /* The pane of the density layers: over the reference layers, under the data (the
   * incidents, tracks and deployments are drawn above it), and never taking a click, so
   * that a click on an incident over the heat opens its popup. */
  function densityPane(map) {
    var pane = map.getPane("fwDensity");
    if (!pane) {
      pane = map.createPane("fwDensity");
      pane.style.zIndex = 380;
      pane.style.pointerEvents = "none";
    }
    return pane;
  }

  // --- hexagons -------------------------------------------------------------------------

  FW.hexLayer = function (map, group) {
    FW.incidentData.then(function (data) { buildHex(map, group, data); });
  };

  /* Resolutions up to this one are worked out for every incident once and kept (a view
   * at these zoom levels holds most of them); finer ones are worked out for the
   * incidents in view at each redraw (a view at those zoom levels holds few). */
  var HEX_CACHED_RES = 6, HEX_OUTLINES_KEPT = 20000;
  /* Up to this many incidents in view, a resolution not yet cached is worked out for them
   * alone at a redraw (about 0.1 s); beyond, the cache is finished first (about a second
   * per million incidents, once). */
  var HEX_IN_VIEW_MAX = 100000;

  /* The layer's state (`hx` below): the cells of the cached resolutions (`byRes`), the
   * queue of those being worked out in the background, the cells' outlines. */
  function buildHex(map, group, data) {
    var hx = {data: data, a: data.arrays, byRes: {}, outlines: new Map(), queue: [],
              working: false, layer: null};
    hx.layer = new _.CanvasLayer(function (ctx, m2) { drawHex(hx, ctx, m2); }, "fwDensity");
    function ensurePane() { densityPane(map); }
    group.on("add", function () { ensurePane(); hx.layer.addTo(map); });
    group.on("remove", function () {
      map.removeLayer(hx.layer);
      var slot = densitySlot(map, "hex");
      if (slot) { slot.remove(); }
    });
    data.onMask(function () { if (map.hasLayer(hx.layer)) { hx.layer.redraw(); } });
    if (map.hasLayer(group)) { ensurePane(); hx.layer.addTo(map); }
  }

  /* Cell of every incident at a cached resolution, as indexes into a list of distinct
   * cells; worked out in slices while the page is idle (see `prefetch`). Until a
   * resolution is complete, the cells of the incidents in view are worked out at each
   * redraw instead. */
  function startCells(hx, res) {
    hx.byRes[res] = {res: res, ids: [], seen: new Map(), of: new Int32Array(hx.a.n), done: 0};
    return hx.byRes[res];
  }

  function slice(hx, cells, size) {
    var a = hx.a, end = Math.min(a.n, cells.done + size), seen = cells.seen, ids = cells.ids;
    for (var i = cells.done; i < end; i++) {
      var cell = h3.latLngToCell(a.lat[i], a.lon[i], cells.res);
      var k = seen.get(cell);
      if (k === undefined) { k = ids.length; seen.set(cell, k); ids.push(cell); }
      cells.of[i] = k;
    }
    cells.done = end;
  }

  /* The cached resolutions one zoom level in and out, worked out ahead, one slice at a
   * time, by a single background chain. */
  function prefetch(hx, res) {
    [res + 1, res, res - 1, res + 2].forEach(function (r) {
      if (r >= 1 && r <= HEX_CACHED_RES && !hx.byRes[r]) { hx.queue.push(startCells(hx, r)); }
    });
    if (!hx.working && hx.queue.length) {
      hx.working = true;
      setTimeout(function () { work(hx); }, 50);
    }
  }

  function work(hx) {
    var queue = hx.queue;
    while (queue.length && queue[0].done >= hx.a.n) { queue.shift(); }
    if (!queue.length) { hx.working = false; return; }
    slice(hx, queue[0], 20000);
    setTimeout(function () { work(hx); }, 0);
  }

  /* The view's box, {south, north, west, east}, from Leaflet bounds. */
  function box(bounds) {
    return {south: bounds.getSouth(), north: bounds.getNorth(), west: bounds.getWest(),
            east: bounds.getEast()};
  }

  /* The cells of a cached resolution, complete, or null. With few incidents in view, a
   * resolution not complete stays so (their cells are worked out now); with many, its
   * cache (and the next level in's: zooming in is likely) is finished first. */
  function cachedCells(hx, res, view) {
    var a = hx.a, cached = hx.byRes[res];
    if (cached && cached.done >= a.n) { return cached; }
    if (res > HEX_CACHED_RES) { return null; }
    var inView = 0;
    for (var i = 0; i < a.n && inView <= HEX_IN_VIEW_MAX; i++) {
      var lat = a.lat[i], lon = a.lon[i];
      if (lat >= view.south && lat <= view.north && lon >= view.west && lon <= view.east) {
        inView++;
      }
    }
    if (inView <= HEX_IN_VIEW_MAX) { return null; }
    [res + 1, res].forEach(function (r) {
      if (r > HEX_CACHED_RES) { return; }
      var cells = hx.byRes[r] || startCells(hx, r);
      while (cells.done < a.n) { slice(hx, cells, a.n); }
    });
    return hx.byRes[res];
  }

  /* Whether incident i is known only by its country or region: its point stands for
   * the region, so no density layer counts it. */
  function regionOnly(a, i) { return (a.code[i] >> 5) & 1; }

  /* The legend's words for the incidents a density layer left out (known only by their
   * region). */
  function leftOutNote(n) {
    return n ? "; " + n + (n === 1 ? " incident" : " incidents") +
      " known only by their country or region not counted" : "";
  }

  /* Incidents per cell, for the positioned incidents in the view (padded by a tenth)
   * that the filters and the time window let through: {cell id: count}; the number of
   * region-only ones they let through is kept as hx.leftOut. */
  function count(hx, res, bounds) {
    var a = hx.a, mask = hx.data.mask, view = box(bounds), found = new Map();
    var cached = cachedCells(hx, res, view);
    var counts = cached ? new Uint32Array(cached.ids.length) : null;
    hx.leftOut = 0;
    for (var i = 0; i < a.n; i++) {
      if (mask && !mask[i]) { continue; }
      if (regionOnly(a, i)) { hx.leftOut++; continue; }
      var lat = a.lat[i], lon = a.lon[i];
      if (lat < view.south || lat > view.north || lon < view.west || lon > view.east) { continue; }
      if (cached) {
        counts[cached.of[i]]++;
      } else {
        var id = h3.latLngToCell(lat, lon, res);
        found.set(id, (found.get(id) || 0) + 1);
      }
    }
    if (cached) {
      for (i = 0; i < counts.length; i++) { if (counts[i]) { found.set(cached.ids[i], counts[i]); } }
    }
    if (res <= HEX_CACHED_RES) { prefetch(hx, res); }
    return found;
  }

  function outline(hx, id) {
    var got = hx.outlines.get(id);
    if (!got) {
      if (hx.outlines.size > HEX_OUTLINES_KEPT) { hx.outlines.clear(); }
      got = h3.cellToBoundary(id);
      hx.outlines.set(id, got);
    }
    return got;
  }

  function drawHex(hx, ctx, m2) {
    var res = h3Resolution(m2.getZoom()), found = count(hx, res, m2.getBounds().pad(0.1));
    var max = 0;
    found.forEach(function (n) { if (n > max) { max = n; } });
    ctx.globalAlpha = 0.75;
    ctx.strokeStyle = "rgba(80, 40, 0, 0.5)";
    ctx.lineWidth = 0.7;
    found.forEach(function (n, id) {
      var ring = outline(hx, id);
      ctx.beginPath();
      for (var j = 0; j < ring.length; j++) {
        var p = m2.latLngToContainerPoint(ring[j]);
        if (j) { ctx.lineTo(p.x, p.y); } else { ctx.moveTo(p.x, p.y); }
      }
      ctx.closePath();
      ctx.fillStyle = RAMP[rampIndex(n, max)];
      ctx.fill();
      ctx.stroke();
    });
    ctx.globalAlpha = 1;
    var km = h3.getHexagonEdgeLengthAvg(res, h3.UNITS.km);
    var slot = densitySlot(m2, "hex");
    if (slot) {
      slot.innerHTML = scaleHtml("Hexagons: incidents per cell", max || 1,
        "H3 resolution " + res + ", cells about " + (2 * km).toFixed(km < 5 ? 1 : 0) +
        " km across" + leftOutNote(hx.leftOut));
    }
    var listed = [];
    found.forEach(function (n, id) { listed.push({cell: id, count: n}); });
    window.fwDensity = window.fwDensity || {};
    window.fwDensity.hexLayer = hx.layer;
    window.fwDensity.hex = {res: res, edgeKm: km, max: max, cells: listed,
                            leftOut: hx.leftOut};
  }

  // --- heat -----------------------------------------------------------------------------

  FW.heatLayer = function (map, group) {
    FW.incidentData.then(function (data) { buildHeat(map, group, data); });
  };

  var HEAT_RADIUS = 18, HEAT_BLUR = 14, HEAT_CELL_PX = (HEAT_RADIUS + HEAT_BLUR) / 2;

  /* leaflet.heat sums the points it holds into a grid of (radius + blur) / 2 pixels,
   * lined up with the map pane, on every move. It is given exactly one point per cell of
   * that grid, weighted by the cell's incidents and placed at their centroid, so its work
   * follows the screen, not the number of incidents, and its scale tops out at the count
   * of the densest cell in view. */
  /* leaflet.heat's layer, its canvas moved from the overlay pane (where it lay over
   * the incidents and took their clicks) into the density pane. */
  var HeatLayer = L.HeatLayer ? L.HeatLayer.extend({
    onAdd: function (map) {
      L.HeatLayer.prototype.onAdd.call(this, map);
      this._canvas.style.pointerEvents = "none";
      densityPane(map).appendChild(this._canvas);
    },
    onRemove: function (map) {
      map.getPanes().overlayPane.appendChild(this._canvas);  // where leaflet.heat looks
      L.HeatLayer.prototype.onRemove.call(this, map);
    }
  }) : null;

  function buildHeat(map, group, data) {
    var heat = null;
    function draw() {
      if (!map.hasLayer(group)) { return; }
      var started = performance.now();
      var got = heatPoints(map, data);
      var binMs = performance.now() - started;
      var peak = Math.max(1, got.max);
      // maxZoom: the current zoom, so that leaflet.heat does not scale the weights down
      var options = {radius: HEAT_RADIUS, blur: HEAT_BLUR, max: peak, maxZoom: map.getZoom(),
                     minOpacity: 0.2, gradient: heatGradient()};
      if (!heat) {
        heat = new HeatLayer(got.points, options);
        group.addLayer(heat);
      } else {
        heat.options.maxZoom = map.getZoom();
        heat.options.max = peak;
        heat.setLatLngs(got.points);  // (redraws with the new options)
      }
      heatLegend(map, got, peak, binMs);
    }
    map.on("moveend", draw);
    group.on("add", draw);
    group.on("remove", function () {
      var slot = densitySlot(map, "heat");
      if (slot) { slot.remove(); }
    });
    data.onMask(draw);
    draw();
  }

  /* One point per cell of leaflet.heat's grid, [lat, lon, incidents], for the incidents
   * the filters and the time window let through; with the count of the densest cell and
   * the number of incidents in view. */
  function heatPoints(map, data) {
    var a = data.arrays, p = data.projected(), tr = _.screenTransform(map), size = map.getSize();
    var pane = map._getMapPanePos(), g = HEAT_CELL_PX, margin = 2 * g;
    var ox = pane.x % g, oy = pane.y % g, cols = Math.ceil((size.x + 2 * margin) / g) + 2;
    var cells = new Map(), mask = data.mask, max = 0, inView = 0, leftOut = 0;
    for (var i = 0; i < a.n; i++) {
      if (mask && !mask[i]) { continue; }
      if (regionOnly(a, i)) { leftOut++; continue; }
      var x = p.x[i] * tr.scale + tr.dx, y = p.y[i] * tr.scale + tr.dy;
      if (x < -margin || y < -margin || x > size.x + margin || y > size.y + margin) { continue; }
      if (x >= 0 && y >= 0 && x <= size.x && y <= size.y) { inView++; }
      var key = (Math.floor((y - oy + margin) / g)) * cols + Math.floor((x - ox + margin) / g);
      var cell = cells.get(key);
      if (!cell) { cell = [0, 0, 0]; cells.set(key, cell); }
      cell[0] += x;
      cell[1] += y;
      cell[2] += 1;
      if (cell[2] > max) { max = cell[2]; }
    }
    var out = [];
    cells.forEach(function (cell) {
      var ll = map.containerPointToLatLng([cell[0] / cell[2], cell[1] / cell[2]]);
      out.push([ll.lat, ll.lng, cell[2]]);
    });
    // (the cells also take the incidents just off the edges, so the shading runs on)
    return {points: out, max: max, inView: inView, leftOut: leftOut};
  }

  /* The heatmap's scale in the legend, and what it shows for the page (tests,
   * benchmarks). */
  function heatLegend(map, got, peak, binMs) {
    var km = HEAT_CELL_PX * 40075 * Math.cos(map.getCenter().lat * Math.PI / 180) /
             (256 * Math.pow(2, map.getZoom()));
    var slot = densitySlot(map, "heat");
    if (slot) {
      slot.innerHTML = scaleHtml("Heatmap: incidents per spot", peak,
        "full colour: the densest spot in view, " + peak + " incidents in a square about " +
        km.toFixed(km < 5 ? 1 : 0) + " km across (neighbours blur into each other)" +
        leftOutNote(got.leftOut), true);
    }
    window.fwDensity = window.fwDensity || {};
    window.fwDensity.heat = {points: got.points.length, max: peak, cellKm: km, binMs: binMs,
                             inView: got.inView, leftOut: got.leftOut};
  }

  function heatGradient() {
    var g = {};
    RAMP.forEach(function (c, k) { g[((k + 1) / RAMP.length).toFixed(3)] = c; });
    return g;
  }
})();
