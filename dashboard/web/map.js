/* Flankwatch's map: incidents clustered by type, time playback, heat and hexagon
 * density, reference layers and the legend. Loaded after Leaflet, Supercluster,
 * h3-js and leaflet.heat (see dashboard/vendor.py); the page built by
 * dashboard/maps.py calls the functions of window.Flankwatch with its data.
 *
 * Text from records reaches this file already escaped (popups and tooltips are built
 * on the server); everything written here from data goes through textContent. */
(function () {
  "use strict";

  var FW = (window.Flankwatch = {});
  var HOUR_MS = 3600 * 1000;
  var NO_TIME = 0x3fffff;
  // popups open clear of the controls down the map's left edge (zoom, drawing, time)
  var POPUP = {maxWidth: 340, autoPanPaddingTopLeft: [70, 12]};

  // --- incident arrays ----------------------------------------------------------------

  /* The binary layout written by dashboard.maps.incident_arrays: lat and lon (float32),
   * a time word (uint32: the start in hours since meta.t0_hours in the low 22 bits,
   * NO_TIME where unknown; a code for the period's length in the high 10 bits), code
   * (uint8: type in bits 0-2, confidence in 3-4, region-only in bit 5). The time word is
   * unpacked into start and dur (hours). */
  function decode(buffer, n) {
    var lat = new Float32Array(buffer, 0, n), lon = new Float32Array(buffer, 4 * n, n);
    var when = new Uint32Array(buffer, 8 * n, n), code = new Uint8Array(buffer, 12 * n, n);
    var start = new Uint32Array(n), dur = new Uint32Array(n);
    for (var i = 0; i < n; i++) {
      var w = when[i], c = w >>> 22;
      start[i] = w & NO_TIME;
      // hours up to 383; then days from 16; then 30-day steps from 400 days
      dur[i] = c <= 383 ? c : c <= 767 ? (c - 384 + 16) * 24 : (400 + (c - 768) * 30) * 24;
    }
    return {n: n, lat: lat, lon: lon, start: start, dur: dur, code: code};
  }

  FW.decodeArrays = decode;  // (for the tests)

  function fromBase64(text) {
    var bin = atob(text);
    var out = new Uint8Array(bin.length);
    for (var k = 0; k < bin.length; k++) { out[k] = bin.charCodeAt(k); }
    return out.buffer;
  }

  /* Web Mercator position of every incident at zoom 0, in units of the world's width,
   * so that drawing a frame is two multiplications per point. */
  function mercator(a) {
    var x = new Float64Array(a.n), y = new Float64Array(a.n);
    for (var i = 0; i < a.n; i++) {
      var s = Math.sin(Math.max(Math.min(a.lat[i], 85.0511), -85.0511) * Math.PI / 180);
      x[i] = (a.lon[i] + 180) / 360;
      y[i] = 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
    }
    return {x: x, y: y};
  }

  /* Loads the arrays once; `FW.incidentData.then(fn)` gives the decoded data to every
   * layer that needs it (clusters, playback, density). */
  FW.loadIncidents = function (meta, source) {
    var got;
    if (source.inline) {
      got = Promise.resolve([fromBase64(source.inline), null]);
    } else {
      var early = window.fwIncidentData && window.fwIncidentData[source.url];
      got = Promise.all([
        early || fetch(source.url).then(function (r) { return r.arrayBuffer(); }),
        source.texts ? fetch(source.texts).then(function (r) { return r.json(); }) : null
      ]);
    }
    FW.incidentData = got.then(function (parts) {
      var a = decode(parts[0], meta.n);
      var texts = parts[1] || meta;
      var data = {
        meta: meta, arrays: a, popups: texts.popups || null, tips: texts.tips || null,
        // which incidents the time control lets through (null: all of them)
        mask: null, listeners: [],
        merc: null
      };
      data.projected = function () { return data.merc || (data.merc = mercator(a)); };
      data.setMask = function (mask) {
        data.mask = mask;
        data.listeners.forEach(function (fn) { fn(); });
      };
      data.onMask = function (fn) { data.listeners.push(fn); };
      return data;
    });
    return FW.incidentData;
  };

  // --- a canvas in the map, redrawn after each move -------------------------------------

  var CanvasLayer = L.Layer.extend({
    initialize: function (drawFn, pane) { this._drawFn = drawFn; this._paneName = pane; },
    onAdd: function (map) {
      this._canvas = L.DomUtil.create("canvas", "fw-canvas");
      this._canvas.style.pointerEvents = "none";
      map.getPane(this._paneName || "overlayPane").appendChild(this._canvas);
      map.on("moveend resize", this.redraw, this);
      map.on("zoomstart", this._hide, this);
      this.redraw();
    },
    onRemove: function (map) {
      L.DomUtil.remove(this._canvas);
      map.off("moveend resize", this.redraw, this);
      map.off("zoomstart", this._hide, this);
    },
    _hide: function () { this._canvas.style.visibility = "hidden"; },
    redraw: function () {
      if (!this._map) { return; }
      var map = this._map, size = map.getSize(), canvas = this._canvas;
      var ratio = window.devicePixelRatio || 1;
      var width = Math.round(size.x * ratio), height = Math.round(size.y * ratio);
      if (canvas.width !== width || canvas.height !== height) {  // (resizing clears it)
        canvas.width = width;
        canvas.height = height;
        canvas.style.width = size.x + "px";
        canvas.style.height = size.y + "px";
      }
      canvas.style.visibility = "visible";
      L.DomUtil.setPosition(canvas, map.containerPointToLayerPoint([0, 0]));
      var ctx = canvas.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, size.x, size.y);
      var started = performance.now();
      this._drawFn(ctx, map, size);
      this.drawMs = performance.now() - started;  // (read by the benchmarks)
    }
  });

  /* Container pixel of a Mercator position (see `mercator`) on the map as it is now. */
  function screenTransform(map) {
    var scale = 256 * Math.pow(2, map.getZoom());
    var origin = map.getPixelOrigin();
    var pane = map._getMapPanePos ? map._getMapPanePos() : L.point(0, 0);
    return {scale: scale, dx: pane.x - origin.x, dy: pane.y - origin.y};
  }

  // --- incidents: clusters that show their composition ----------------------------------

  function clusterElement(props, types, colours) {
    var counts = types.map(function (t, k) { return props["t" + k] || 0; });
    var total = props.point_count;
    var stops = [], at = 0, parts = [];
    counts.forEach(function (c, k) {
      if (!c) { return; }
      var next = at + 100 * c / total;
      stops.push(colours[k] + " " + at.toFixed(2) + "% " + next.toFixed(2) + "%");
      parts.push(c + " " + types[k]);
      at = next;
    });
    var size = total < 100 ? 34 : total < 1000 ? 42 : 50;
    var el = document.createElement("div");
    el.className = "fw-cluster";
    el.style.width = el.style.height = size + "px";
    el.style.background = "conic-gradient(" + stops.join(", ") + ")";
    var label = document.createElement("span");
    label.textContent = props.point_count_abbreviated;
    el.appendChild(label);
    var summary = total + " incidents: " + parts.join(", ");
    el.title = summary;
    el.setAttribute("aria-label", summary);
    el.setAttribute("role", "button");
    return {el: el, size: size, counts: counts};
  }

  /* Supercluster's `reduce`: a new cluster starts as a copy of its first member's
   * properties (a point's {i, k} or a cluster's counts) and adds the others; counts are
   * kept as fields t0, t1, ... (numbers, so that copies share nothing). */
  function countTypes(ntypes) {
    return function (acc, p) {
      var k;
      if (acc.t0 === undefined) {
        for (k = 0; k < ntypes; k++) { acc["t" + k] = 0; }
        acc["t" + acc.k] = 1;
      }
      if (p.t0 === undefined) {
        acc["t" + p.k] += 1;
      } else {
        for (k = 0; k < ntypes; k++) { acc["t" + k] += p["t" + k]; }
      }
    };
  }

  FW.incidentLayer = function (map, group, options) {
    FW.incidentData.then(function (data) { buildIncidents(map, group, options, data); });
  };

  function buildIncidents(map, group, o, data) {
    var a = data.arrays, meta = data.meta, n = a.n;
    var reduce = countTypes(meta.types.length);
    var index = null, shown = L.featureGroup().addTo(group), markers = [], current = {};
    var frozen = false;  // true while playback draws frames instead of clusters

    function load() {
      var points = [];
      for (var i = 0; i < n; i++) {
        if (data.mask && !data.mask[i]) { continue; }
        points.push({type: "Feature", properties: {i: i, k: a.code[i] & 7},
                     geometry: {type: "Point", coordinates: [a.lon[i], a.lat[i]]}});
      }
      index = new Supercluster({
        radius: 45, maxZoom: o.unclusterZoom - 1, minPoints: 3,
        reduce: reduce
      });
      index.load(points);
      api.indexed = points.length;
    }
    function point(i) {
      var s = meta.strokes[(a.code[i] >> 3) & 3], region = (a.code[i] >> 5) & 1;
      var m = L.circleMarker([a.lat[i], a.lon[i]], {radius: region ? 13 : 7, color: "#222",
          weight: s[0], dashArray: s[1], fillColor: meta.colours[a.code[i] & 7],
          fillOpacity: region ? 0.18 : 0.85});
      m.fwIndex = i;
      if (data.popups) { m.bindPopup(data.popups[i], POPUP); m.bindTooltip(data.tips[i]); }
      return m;
    }
    /* Incidents known only by their country (or region), all at the point that stands
     * for it: one badge beside that point (never on it, where a deployment may sit),
     * dashed, with their number and a ring of their types. */
    function regionBadge(members) {
      var counts = {point_count: members.length,
                    point_count_abbreviated: String(members.length)};
      members.forEach(function (i) {
        var t = "t" + (a.code[i] & 7);
        counts[t] = (counts[t] || 0) + 1;
      });
      var built = clusterElement(counts, meta.types, meta.colours);
      built.el.classList.add("fw-region-badge");
      built.el.title = members.length + (members.length === 1 ? " incident" : " incidents") +
        " known only by their region: " + built.el.title.split(": ")[1];
      built.el.setAttribute("aria-label", built.el.title);
      var size = built.size, i0 = members[0];
      var m = L.marker([a.lat[i0], a.lon[i0]], {icon: L.divIcon({html: built.el, className: "",
          iconSize: [size, size], iconAnchor: [-8, size + 8]}), keyboard: false});
      m.fwIndex = i0;
      m.fwMembers = members;
      if (data.popups) {
        m.bindPopup(members.map(function (i) { return data.popups[i]; }).join("<hr>"),
                    L.extend({maxHeight: 320}, POPUP));
      }
      return m;
    }
    function cluster(item) {
      var c = item.geometry.coordinates, built = clusterElement(item.properties, meta.types, meta.colours);
      var m = L.marker([c[1], c[0]], {icon: L.divIcon({html: built.el, className: "",
          iconSize: [built.size, built.size]}), keyboard: false});
      m.fwCounts = built.counts;
      m.on("click", function () {
        map.setView([c[1], c[0]],
                    Math.min(index.getClusterExpansionZoom(item.properties.cluster_id), 18));
      });
      return m;
    }
    // layers are kept across redraws so that an open popup survives the map panning to it
    function draw() {
      var next = {}, z = Math.round(map.getZoom());
      if (map.hasLayer(group) && !frozen) {
        var b = map.getBounds().pad(0.25);
        var items = index.getClusters([Math.max(b.getWest(), -180), Math.max(b.getSouth(), -85),
            Math.min(b.getEast(), 180), Math.min(b.getNorth(), 85)], z);
        var regions = {};  // region-only incidents by the point that stands for them
        for (var k = 0; k < items.length; k++) {
          var p = items[k].properties;
          if (!p.cluster && (a.code[p.i] >> 5) & 1) {
            var at = a.lat[p.i].toFixed(4) + "," + a.lon[p.i].toFixed(4);
            (regions[at] = regions[at] || []).push(p.i);
            continue;
          }
          var key = p.cluster ? "c" + z + ":" + p.cluster_id : "p" + p.i;
          next[key] = current[key] || (p.cluster ? cluster(items[k]) : point(p.i));
        }
        for (var spot in regions) {
          var members = regions[spot], rkey = "r" + members.join(",");
          next[rkey] = current[rkey] || regionBadge(members);
        }
      }
      for (var old in current) { if (!next[old]) { shown.removeLayer(current[old]); } }
      markers = [];
      for (var key2 in next) {
        if (!current[key2]) { shown.addLayer(next[key2]); }
        if (next[key2].fwIndex !== undefined) { markers.push(next[key2]); }
      }
      current = next;
    }

    // for inspection from the page (tests, benchmarks); set once the incidents are
    // indexed and the view drawn (the benchmarks take that moment as "drawn")
    var api = {
      total: n, indexed: 0,
      markers: function () { return markers; },
      clusters: function () {
        var out = [];
        for (var key in current) {
          var m = current[key];
          if (m.fwCounts) {
            var counts = {};
            m.fwCounts.forEach(function (c, k) { if (c) { counts[meta.types[k]] = c; } });
            out.push({lat: m.getLatLng().lat, lon: m.getLatLng().lng, counts: counts});
          }
        }
        return out;
      },
      popup: function (i) { return data.popups ? data.popups[i] : null; },
      tip: function (i) { return data.tips ? data.tips[i] : null; }
    };
    load();
    draw();
    window.fwIncidents = api;
    map.on("moveend", draw);
    group.on("add", draw);
    data.onMask(function () {
      if (frozen) { return; }
      load();
      shown.clearLayers();  // cluster ids are only valid for the index that made them
      current = {};
      draw();
    });
    data.freeze = function (on) {  // playing: frames are drawn instead (see buildPlayback)
      frozen = on;
      if (on) { draw(); }  // (after playing, the new window's mask rebuilds the index)
    };
  }

  // --- time playback ------------------------------------------------------------------

  var STEPS = {hour: HOUR_MS, day: 24 * HOUR_MS, week: 7 * 24 * HOUR_MS, month: null};

  /* `t` moved by `k` steps; months are calendar months (the 31st of January plus a
   * month is the last day of February), a fraction of a month is 30.44 days. */
  function shift(t, step, k) {
    if (step !== "month") { return t + k * STEPS[step]; }
    var d = new Date(t), whole = Math.trunc(k), part = k - whole;
    var year = d.getUTCFullYear(), month = d.getUTCMonth() + whole;
    var last = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
    var moved = Date.UTC(year, month, Math.min(d.getUTCDate(), last), d.getUTCHours(),
                         d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds());
    return moved + part * 30.44 * 24 * HOUR_MS;
  }
  FW.shiftTime = shift;  // (for the tests)

  function isoMinute(t) { return new Date(t).toISOString().slice(0, 16); }

  function cursorText(t, step) {
    var iso = new Date(t).toISOString();
    if (step === "hour") { return iso.slice(0, 10) + " " + iso.slice(11, 16) + "Z"; }
    if (step === "month") { return iso.slice(0, 7); }
    return iso.slice(0, 10);
  }

  /* Writes the time state into the dashboard page's address, so that a shared link
   * opens at the same moment, and tells Streamlit (a "popstate" event: it reads the
   * address again and runs the script with it), so that the server keeps it. Only when
   * the address changes: never per frame. */
  function writeAddress(state) {
    try {
      var w = window.parent, url = new URL(w.location.href), before = url.search;
      if (state) {
        url.searchParams.set("time", isoMinute(state.cursor));
        url.searchParams.set("window", state.cumulative ? "all" : String(state.window));
        url.searchParams.set("step", state.step);
      } else {
        ["time", "window", "step"].forEach(function (k) { url.searchParams.delete(k); });
      }
      w.fwPlaybackState = state ? Object.assign({}, state, {playing: false}) : null;
      if (url.search === before) { return; }
      w.history.replaceState(w.history.state, "", url.toString());
      if (w !== window) { w.dispatchEvent(new PopStateEvent("popstate", {state: w.history.state})); }
    } catch (e) { /* a page of another origin, or a file: the address stays */ }
  }

  function savedState() {
    try { return window.parent.fwPlaybackState || null; } catch (e) { return null; }
  }

  FW.playback = function (map, options) {
    FW.incidentData.then(function (data) { buildPlayback(map, options, data); });
  };

  function buildPlayback(map, o, data) {
    var a = data.arrays, meta = data.meta, t0 = meta.t0_hours * HOUR_MS;
    var first = Infinity, last = -Infinity;
    for (var i = 0; i < a.n; i++) {
      if (a.start[i] === NO_TIME) { continue; }
      first = Math.min(first, a.start[i]);
      last = Math.max(last, a.start[i] + a.dur[i]);
    }
    (o.tracks || []).forEach(function (t) {
      first = Math.min(first, (t.times[0] - t0) / HOUR_MS);
      last = Math.max(last, (t.times[t.times.length - 1] - t0) / HOUR_MS);
    });
    if (first === Infinity) { return; }
    var period = {start: t0 + first * HOUR_MS, end: t0 + last * HOUR_MS};
    var initial = savedState() || o.state;
    var state = {
      on: !!initial, playing: false,
      step: (initial && initial.step) || "day",
      window: (initial && initial.window) || 7,
      cumulative: !!(initial && initial.cumulative),
      speed: (initial && initial.speed) || 4,
      cursor: initial && initial.cursor !== undefined ? initial.cursor : period.start
    };
    var visible = new Uint8Array(a.n), alpha = new Float32Array(a.n);
    var stats = {frames: [], count: 0};

    /* Which incidents are on the map at the cursor: started by then, and (unless the
     * window is cumulative) not ended before the window's start. */
    function compute() {
      var from = state.cumulative ? -Infinity : shift(state.cursor, state.step, -state.window);
      var c = (state.cursor - t0) / HOUR_MS, f = (from - t0) / HOUR_MS, span = c - f;
      var count = 0;
      for (var i = 0; i < a.n; i++) {
        var s = a.start[i];
        var on = s !== NO_TIME && s <= c && s + a.dur[i] >= f;
        visible[i] = on ? 1 : 0;
        if (on) {
          count++;
          var age = c - (s + a.dur[i]);
          alpha[i] = state.cumulative || age <= 0 ? 1 : Math.max(0.15, 1 - age / span);
        }
      }
      stats.count = count;
      return count;
    }

    /* A frame: the visible incidents as dots written straight into the canvas's pixels
     * (a path or a sprite per dot costs a hundred times more at 10^5 dots): a disc in the
     * type's colour with a dark rim, its opacity falling with age. */
    var DOT_RADIUS = 4.5, packed = meta.colours.map(rgb), image = null, disc = null;
    function rgb(hex) {
      var v = parseInt(hex.slice(1), 16);
      return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
    }
    function discOffsets(width, radius) {
      var fill = [], rim = [], r = Math.ceil(radius);
      for (var dy = -r; dy <= r; dy++) {
        for (var dx = -r; dx <= r; dx++) {
          var d = Math.sqrt(dx * dx + dy * dy);
          if (d <= radius - 1.2) { fill.push(dy * width + dx); } else if (d <= radius) { rim.push(dy * width + dx); }
        }
      }
      return {fill: fill, rim: rim, r: r, width: width};
    }
    var frameLayer = new CanvasLayer(function (ctx, m2, size) {
      if (!state.on || !state.playing) { return; }
      var ratio = window.devicePixelRatio || 1;
      var r = Math.ceil(DOT_RADIUS * ratio), w = Math.round(size.x * ratio) + 2 * r;
      var h = Math.round(size.y * ratio) + 2 * r;
      if (!image || image.width !== w || image.height !== h) {
        image = ctx.createImageData(w, h);  // a margin of r pixels all round
        disc = discOffsets(w, DOT_RADIUS * ratio);
      }
      var px = new Uint32Array(image.data.buffer);
      px.fill(0);
      var p = data.projected(), tr = screenTransform(m2);
      for (var i = 0; i < a.n; i++) {
        if (!visible[i]) { continue; }
        var x = Math.round((p.x[i] * tr.scale + tr.dx) * ratio) + r;
        var y = Math.round((p.y[i] * tr.scale + tr.dy) * ratio) + r;
        if (x < r || y < r || x >= w - r || y >= h - r) { continue; }  // centre off the map
        var c = packed[a.code[i] & 7], opacity = Math.round(255 * alpha[i]);
        var colour = ((opacity << 24) | (c[2] << 16) | (c[1] << 8) | c[0]) >>> 0;
        var rim = ((opacity << 24) | 0x222222) >>> 0, at = y * w + x, k;
        for (k = 0; k < disc.fill.length; k++) { px[at + disc.fill[k]] = colour; }
        for (k = 0; k < disc.rim.length; k++) { px[at + disc.rim[k]] = rim; }
      }
      ctx.putImageData(image, -r, -r);  // the canvas clips the margin
    });

    // tracks: the aircraft's position along its line, crossings as they happen
    var trackLayer = L.layerGroup();
    var planes = (o.tracks || []).map(function (t) {
      return L.circleMarker(t.coords[0], {radius: 6, color: "#000", weight: 2,
                                          fillColor: t.colour, fillOpacity: 1});
    });
    var crossings = (o.crossings || []).map(function (c) {
      return L.circleMarker([c.lat, c.lon], {radius: 8, color: "#c00", weight: 3,
                                             fillColor: "#fff", fillOpacity: 1});
    });
    function trackPositions() {
      trackLayer.clearLayers();
      if (!state.on) { return; }
      var from = state.cumulative ? -Infinity : shift(state.cursor, state.step, -state.window);
      (o.tracks || []).forEach(function (t, k) {
        var at = positionAt(t, state.cursor);
        if (at) { planes[k].setLatLng(at); trackLayer.addLayer(planes[k]); }
      });
      (o.crossings || []).forEach(function (c, k) {
        if (c.time <= state.cursor && c.time >= from) { trackLayer.addLayer(crossings[k]); }
      });
    }

    // the control
    var ui = {};
    var control = L.control({position: "topleft"});
    control.onAdd = function () {
      var div = L.DomUtil.create("div", "fw-time");
      div.innerHTML = '<button type="button" class="fw-time-toggle">Time</button>' +
        '<span class="fw-time-body">' +
        '<button type="button" data-act="back" title="One step back">&#9664;&#9664;</button>' +
        '<button type="button" data-act="play" title="Play">&#9654;</button>' +
        '<button type="button" data-act="fwd" title="One step forward">&#9654;&#9654;</button>' +
        '<input type="range" min="0" max="1000" step="1" aria-label="Time cursor">' +
        '<label>step <select data-opt="step"><option>hour</option><option>day</option>' +
        '<option>week</option><option>month</option></select></label>' +
        '<label>window <select data-opt="window"><option value="1">1 step</option>' +
        '<option value="3">3 steps</option><option value="7">7 steps</option>' +
        '<option value="30">30 steps</option><option value="all">cumulative</option>' +
        '</select></label>' +
        '<label>speed <select data-opt="speed"><option value="1">1 step/s</option>' +
        '<option value="2">2 steps/s</option><option value="4">4 steps/s</option>' +
        '<option value="8">8 steps/s</option><option value="16">16 steps/s</option>' +
        '</select></label>' +
        '<output class="fw-time-cursor" aria-live="polite"></output>' +
        '<output class="fw-time-count"></output></span>';
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      ui.div = div;
      ui.range = div.querySelector("input[type=range]");
      ui.play = div.querySelector("[data-act=play]");
      ui.cursor = div.querySelector(".fw-time-cursor");
      ui.count = div.querySelector(".fw-time-count");
      ui.selects = div.querySelectorAll("select");
      div.querySelector(".fw-time-toggle").addEventListener("click", function () {
        setOn(!state.on);
      });
      div.querySelector("[data-act=back]").addEventListener("click", function () { stepBy(-1); });
      div.querySelector("[data-act=fwd]").addEventListener("click", function () { stepBy(1); });
      ui.play.addEventListener("click", function () { state.playing ? pause() : play(); });
      function fromSlider() {
        state.cursor = period.start + (period.end - period.start) * ui.range.value / 1000;
      }
      // while dragging: the cursor and the count; let go: the map follows
      ui.range.addEventListener("input", function () { fromSlider(); compute(); show(); });
      ui.range.addEventListener("change", function () { fromSlider(); settle(); });
      ui.selects.forEach(function (sel) {
        sel.addEventListener("change", function () {
          var key = sel.getAttribute("data-opt");
          if (key === "window") {
            state.cumulative = sel.value === "all";
            if (!state.cumulative) { state.window = Number(sel.value); }
          } else if (key === "speed") {
            state.speed = Number(sel.value);
          } else {
            state.step = sel.value;
          }
          settle();
        });
      });
      return div;
    };
    control.addTo(map);

    function show() {
      ui.div.classList.toggle("fw-time-on", state.on);
      if (!state.on) { return; }
      ui.play.innerHTML = state.playing ? "&#10074;&#10074;" : "&#9654;";
      ui.play.title = state.playing ? "Pause" : "Play";
      ui.cursor.textContent = cursorText(state.cursor, state.step);
      ui.count.textContent = stats.count.toLocaleString("en") + " incidents";
      var span = period.end - period.start || 1;
      ui.range.value = Math.round(1000 * (state.cursor - period.start) / span);
      ui.selects[0].value = state.step;
      ui.selects[1].value = state.cumulative ? "all" : String(state.window);
      ui.selects[2].value = String(state.speed);
    }
    /* Paused (or changed): the selection of the window is clustered as usual. */
    function settle() {
      if (state.on) { compute(); }
      data.setMask(state.on ? visible.slice() : null);
      trackPositions();
      show();
      writeAddress(state.on ? state : null);
    }
    function setOn(on) {
      state.on = on;
      if (!on) { pause(); }
      settle();
    }
    function stepBy(k) {
      pause();
      state.cursor = shift(state.cursor, state.step, k);
      settle();
    }
    var last = null, sinceMask = 0;
    function frame(now) {
      if (!state.playing) { return; }
      var dt = 0;
      if (last !== null) {
        dt = now - last;
        stats.frames.push(dt);
        state.cursor = shift(state.cursor, state.step, state.speed * dt / 1000);
      }
      last = now;
      if (state.cursor >= period.end) { state.cursor = period.end; }
      compute();
      frameLayer.redraw();
      trackPositions();
      show();
      sinceMask += dt || 0;
      if (sinceMask > 250) { sinceMask = 0; data.setMask(visible); }  // density layers follow
      if (state.cursor >= period.end) { pause(); return; }
      requestAnimationFrame(frame);
    }
    function play() {
      if (!state.on) { state.on = true; }
      if (state.cursor >= period.end) { state.cursor = period.start; }
      state.playing = true;
      last = null;
      data.freeze && data.freeze(true);
      frameLayer.addTo(map);
      requestAnimationFrame(frame);
      show();
    }
    function pause() {
      if (!state.playing) { return; }
      state.playing = false;
      map.removeLayer(frameLayer);
      data.freeze && data.freeze(false);
      settle();
    }
    trackLayer.addTo(map);
    settle();

    // for the page (tests, benchmarks)
    window.fwPlayback = {
      state: function () { return Object.assign({}, state); },
      period: period, stats: stats,
      play: play, pause: pause, step: stepBy, setOn: setOn,
      visible: function () { return stats.count; },
      planes: function () {
        return trackLayer.getLayers().filter(function (l) { return planes.indexOf(l) >= 0; })
          .map(function (l) { return [l.getLatLng().lat, l.getLatLng().lng]; });
      },
      crossings: function () {
        return trackLayer.getLayers().filter(function (l) { return crossings.indexOf(l) >= 0; }).length;
      }
    };
  }

  /* A track's position at time `t` (ms), linear between its timed vertices; null
   * outside the track's times. */
  function positionAt(track, t) {
    var times = track.times, c = track.coords;
    if (t < times[0] || t > times[times.length - 1]) { return null; }
    for (var k = 1; k < times.length; k++) {
      if (t <= times[k]) {
        var f = times[k] === times[k - 1] ? 1 : (t - times[k - 1]) / (times[k] - times[k - 1]);
        return [c[k - 1][0] + f * (c[k][0] - c[k - 1][0]), c[k - 1][1] + f * (c[k][1] - c[k - 1][1])];
      }
    }
    return c[c.length - 1];
  }

  // --- density: hexagons (H3) and heat ------------------------------------------------

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

  function buildHex(map, group, data) {
    var a = data.arrays, byRes = {}, outlines = new Map();

    /* Cell of every incident at a cached resolution, as indexes into a list of distinct
     * cells; worked out in slices while the page is idle (see `prefetch`). Until a
     * resolution is complete, the cells of the incidents in view are worked out at each
     * redraw instead. */
    function start(res) {
      byRes[res] = {res: res, ids: [], seen: new Map(), of: new Int32Array(a.n), done: 0};
      return byRes[res];
    }
    function slice(cells, size) {
      var end = Math.min(a.n, cells.done + size), seen = cells.seen, ids = cells.ids;
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
    var queue = [], working = false;
    function prefetch(res) {
      [res + 1, res, res - 1, res + 2].forEach(function (r) {
        if (r >= 1 && r <= HEX_CACHED_RES && !byRes[r]) { queue.push(start(r)); }
      });
      if (!working && queue.length) { working = true; setTimeout(work, 50); }
    }
    function work() {
      while (queue.length && queue[0].done >= a.n) { queue.shift(); }
      if (!queue.length) { working = false; return; }
      slice(queue[0], 20000);
      setTimeout(work, 0);
    }
    /* Incidents per cell, for the incidents in the view (padded by a tenth) that the
     * filters and the time window let through: {cell id: count}. */
    function count(res, bounds) {
      var south = bounds.getSouth(), north = bounds.getNorth(), west = bounds.getWest();
      var east = bounds.getEast(), mask = data.mask, found = new Map(), i, lat, lon;
      var cached = byRes[res] && byRes[res].done >= a.n ? byRes[res] : null, counts = null;
      if (!cached && res <= HEX_CACHED_RES) {
        // few incidents in view: their cells now; many: finish the resolution's cache
        var inView = 0;
        for (i = 0; i < a.n && inView <= HEX_IN_VIEW_MAX; i++) {
          lat = a.lat[i];
          lon = a.lon[i];
          if (lat >= south && lat <= north && lon >= west && lon <= east) { inView++; }
        }
        if (inView > HEX_IN_VIEW_MAX) {  // (and the next level in: zooming in is likely)
          [res + 1, res].forEach(function (r) {
            if (r > HEX_CACHED_RES) { return; }
            var cells = byRes[r] || start(r);
            while (cells.done < a.n) { slice(cells, a.n); }
          });
          cached = byRes[res];
        }
      }
      if (cached) { counts = new Uint32Array(cached.ids.length); }
      for (i = 0; i < a.n; i++) {
        if (mask && !mask[i]) { continue; }
        lat = a.lat[i];
        lon = a.lon[i];
        if (lat < south || lat > north || lon < west || lon > east) { continue; }
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
      if (res <= HEX_CACHED_RES) { prefetch(res); }
      return found;
    }
    function outline(id) {
      var got = outlines.get(id);
      if (!got) {
        if (outlines.size > HEX_OUTLINES_KEPT) { outlines.clear(); }
        got = h3.cellToBoundary(id);
        outlines.set(id, got);
      }
      return got;
    }
    var layer = new CanvasLayer(function (ctx, m2) {
      var res = h3Resolution(m2.getZoom()), found = count(res, m2.getBounds().pad(0.1));
      var max = 0;
      found.forEach(function (n) { if (n > max) { max = n; } });
      ctx.globalAlpha = 0.75;
      ctx.strokeStyle = "rgba(80, 40, 0, 0.5)";
      ctx.lineWidth = 0.7;
      found.forEach(function (n, id) {
        var ring = outline(id);
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
          " km across");
      }
      var listed = [];
      found.forEach(function (n, id) { listed.push({cell: id, count: n}); });
      window.fwDensity = window.fwDensity || {};
      window.fwDensity.hexLayer = layer;
      window.fwDensity.hex = {res: res, edgeKm: km, max: max, cells: listed};
    }, "fwDensity");
    function ensurePane() {
      if (!map.getPane("fwDensity")) {
        map.createPane("fwDensity");
        map.getPane("fwDensity").style.zIndex = 380;  // over reference layers, under data
      }
    }
    group.on("add", function () { ensurePane(); layer.addTo(map); });
    group.on("remove", function () {
      map.removeLayer(layer);
      var slot = densitySlot(map, "hex");
      if (slot) { slot.remove(); }
    });
    data.onMask(function () { if (map.hasLayer(layer)) { layer.redraw(); } });
    if (map.hasLayer(group)) { ensurePane(); layer.addTo(map); }
  }

  FW.heatLayer = function (map, group) {
    FW.incidentData.then(function (data) { buildHeat(map, group, data); });
  };

  var HEAT_RADIUS = 18, HEAT_BLUR = 14, HEAT_CELL_PX = (HEAT_RADIUS + HEAT_BLUR) / 2;

  /* leaflet.heat sums the points it holds into a grid of (radius + blur) / 2 pixels,
   * lined up with the map pane, on every move. It is given exactly one point per cell of
   * that grid, weighted by the cell's incidents and placed at their centroid, so its work
   * follows the screen, not the number of incidents, and its scale tops out at the count
   * of the densest cell in view. */
  function buildHeat(map, group, data) {
    var a = data.arrays, heat = null;
    function points() {
      var p = data.projected(), tr = screenTransform(map), size = map.getSize();
      var pane = map._getMapPanePos(), g = HEAT_CELL_PX, margin = 2 * g;
      var ox = pane.x % g, oy = pane.y % g, cols = Math.ceil((size.x + 2 * margin) / g) + 2;
      var cells = new Map(), mask = data.mask, max = 0, inView = 0;
      for (var i = 0; i < a.n; i++) {
        if (mask && !mask[i]) { continue; }
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
      return {points: out, max: max, inView: inView};
    }
    function draw() {
      if (!map.hasLayer(group)) { return; }
      var started = performance.now();
      var got = points();
      var binMs = performance.now() - started;
      var peak = Math.max(1, got.max);
      // maxZoom: the current zoom, so that leaflet.heat does not scale the weights down
      var options = {radius: HEAT_RADIUS, blur: HEAT_BLUR, max: peak, maxZoom: map.getZoom(),
                     minOpacity: 0.2, gradient: heatGradient()};
      if (!heat) {
        heat = L.heatLayer(got.points, options);
        group.addLayer(heat);
      } else {
        heat.options.maxZoom = map.getZoom();
        heat.options.max = peak;
        heat.setLatLngs(got.points);  // (redraws with the new options)
      }
      var km = HEAT_CELL_PX * 40075 * Math.cos(map.getCenter().lat * Math.PI / 180) /
               (256 * Math.pow(2, map.getZoom()));
      var slot = densitySlot(map, "heat");
      if (slot) {
        slot.innerHTML = scaleHtml("Heatmap: incidents per spot", peak,
          "full colour: the densest spot in view, " + peak + " incidents in a square about " +
          km.toFixed(km < 5 ? 1 : 0) + " km across (neighbours blur into each other)", true);
      }
      window.fwDensity = window.fwDensity || {};
      window.fwDensity.heat = {points: got.points.length, max: peak, cellKm: km, binMs: binMs,
                               inView: got.inView};
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

  function heatGradient() {
    var g = {};
    RAMP.forEach(function (c, k) { g[((k + 1) / RAMP.length).toFixed(3)] = c; });
    return g;
  }

  // --- reference and data layers, legend -------------------------------------------------

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

  // --- place names on the offline basemap ----------------------------------------------

  var LABELS_SHOWN_MAX = 120;

  /* Country and town names as text in the page (readable by a screen reader), in a pane
   * under the data (incidents are drawn over them, never under), placed largest first
   * and left out where they would overlap one already placed. */
  FW.labelLayer = function (map, o) {
    if (!map.getPane("fwLabels")) {
      map.createPane("fwLabels");
      map.getPane("fwLabels").style.zIndex = 395;
      map.getPane("fwLabels").style.pointerEvents = "none";
    }
    var pane = map.getPane("fwLabels"), rows = [];
    function place() {
      pane.textContent = "";
      var zoom = map.getZoom(), size = map.getSize(), placed = [], shown = [];
      for (var k = 0; k < rows.length && shown.length < LABELS_SHOWN_MAX; k++) {
        var row = rows[k], country = row[1] === 1;
        if (row[4] > zoom) { continue; }
        var p = map.latLngToContainerPoint([row[2], row[3]]);
        var width = row[0].length * (country ? 7.4 : 6.3), height = country ? 16 : 14;
        var box = country ? [p.x - width / 2, p.y - height / 2, p.x + width / 2, p.y + height / 2]
                          : [p.x - 3, p.y - height / 2, p.x + 7 + width, p.y + height / 2];
        if (box[2] < 0 || box[3] < 0 || box[0] > size.x || box[1] > size.y) { continue; }
        var free = placed.every(function (b) {
          return box[2] < b[0] || box[0] > b[2] || box[3] < b[1] || box[1] > b[3];
        });
        if (!free) { continue; }
        placed.push(box);
        var el = document.createElement("div");
        el.className = country ? "fw-label fw-label-country" : "fw-label fw-label-town";
        el.textContent = row[0];
        L.DomUtil.setPosition(el, map.containerPointToLayerPoint([box[0], box[1]]));
        pane.appendChild(el);
        shown.push(row[0]);
      }
      window.fwLabels = {shown: shown};
    }
    function ready(data) { rows = data; place(); map.on("moveend", place); }
    if (o.data) {
      ready(o.data);
    } else {
      fetch(o.url).then(function (r) { return r.json(); }).then(ready);
    }
  };

  // --- behaviour in the page --------------------------------------------------------

  /* The wheel scrolls the page until the map is clicked, then zooms the map until the
   * pointer leaves it; the offline basemap's credit; a word on the map when an online
   * basemap's tiles fail (no internet access). */
  FW.behaviour = function (map, o) {
    map.scrollWheelZoom.disable();
    map.on("click", function () { map.scrollWheelZoom.enable(); });
    map.getContainer().addEventListener("mouseleave", function () {
      map.scrollWheelZoom.disable();
    });
    if (o.attribution && map.attributionControl) {
      map.attributionControl.addAttribution(o.attribution);
    }
    keepMeasurements(map);
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
  };

  /* Measurements outlive the map: each finished one is kept in the dashboard page
   * (the map is rebuilt when a filter changes) and drawn again, with its length, on the
   * next map; a click on one removes it. */
  function keepMeasurements(map) {
    var host;
    try { host = window.parent; host.fwMeasures = host.fwMeasures || []; } catch (e) { host = window; }
    host.fwMeasures = host.fwMeasures || [];
    var kept = host.fwMeasures;
    function draw(m) {
      var style = {color: "#e65100", weight: 3, dashArray: "6 4", fill: false};
      var shape = L.polyline(m.points, style).addTo(map);
      var label = document.createElement("span");
      label.textContent = m.label;
      shape.bindTooltip(label, {permanent: true, direction: "center",
                                className: "fw-measure-label"});
      shape.on("click", function () {
        map.removeLayer(shape);
        var at = kept.indexOf(m);
        if (at >= 0) { kept.splice(at, 1); }
      });
    }
    kept.forEach(draw);
    map.on("measurefinish", function (e) {
      if (!e || !e.points || e.points.length < 2) { return; }
      var label = String(e.lengthDisplay || "");
      if (e.points.length > 2 && e.areaDisplay) { label += " · " + e.areaDisplay; }
      kept.push({points: e.points.map(function (p) { return [p.lat, p.lng]; }), label: label});
    });
    window.fwMeasures = kept;
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
