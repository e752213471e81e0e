/* Flankwatch's map: the namespace and the incidents' arrays. The map's own scripts
 * (dashboard/web/*.js, in the order of OWN_SCRIPTS in dashboard/vendor.py) are loaded
 * after Leaflet, Supercluster, h3-js and leaflet.heat, this one first; the page built
 * by dashboard/maps.py calls the functions of window.Flankwatch with its data. Each
 * script shares with the others only through window.Flankwatch: what the page calls
 * by name, and under Flankwatch._ what the other scripts use.
 *
 * Text from records reaches these files already escaped (popups and tooltips are built
 * on the server); everything written here from data goes through textContent. */
(function () {
  "use strict";

  var FW = (window.Flankwatch = {});
  var _ = (FW._ = {});
  var HOUR_MS = (_.HOUR_MS = 3600 * 1000);
  var NO_TIME = (_.NO_TIME = 0x3fffff);
  // popups open clear of the controls down the map's left edge (zoom, drawing, time)
  _.POPUP = {maxWidth: 340, autoPanPaddingTopLeft: [70, 12]};

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

  /* The decoded incidents with the time control's selection: `mask` says which of them
   * it lets through (null: all of them), and `onMask` listeners hear of each change. */
  function incidentData(meta, a, texts) {
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
      return incidentData(meta, decode(parts[0], meta.n), parts[1] || meta);
    });
    return FW.incidentData;
  };
})();
