/* The incidents on the map: clusters that show their composition (a ring in the colours
 * of their types), single incidents as circle markers, and incidents known only by
 * their region as a badge beside the point that stands for it. */
(function () {
  "use strict";

  var FW = window.Flankwatch, _ = FW._;
  var POPUP = _.POPUP;

  /* A ring's diameter in pixels: growing with the count's digits, between 30 and
   * CLUSTER_MAX_PX (so that the count fits in the white middle and a ring never covers
   * its neighbour: Supercluster merges points within CLUSTER_RADIUS_PX, which is larger
   * than the largest ring). */
  var CLUSTER_MAX_PX = 48, CLUSTER_RADIUS_PX = 60;
  function clusterSize(total) {
    return Math.max(30, Math.min(CLUSTER_MAX_PX, 22 + 6 * Math.log10(Math.max(total, 1))));
  }
  _.clusterSize = clusterSize;  // (for the tests)

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
    var size = clusterSize(total);
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

  /* The layer's state (`ix` below): the index of the incidents the time control lets
   * through, the markers shown by key, and whether playback has frozen them. */
  function buildIncidents(map, group, o, data) {
    var ix = {
      map: map, group: group, o: o, data: data, a: data.arrays, meta: data.meta,
      reduce: countTypes(data.meta.types.length),
      index: null, shown: L.featureGroup().addTo(group), markers: [], current: {}, regionOnly: [],
      frozen: false,  // true while playback draws frames instead of clusters
      api: null
    };
    // for inspection from the page (tests, benchmarks); set once the incidents are
    // indexed and the view drawn (the benchmarks take that moment as "drawn")
    ix.api = inspection(ix);
    load(ix);
    draw(ix);
    window.fwIncidents = ix.api;
    map.on("moveend", function () { draw(ix); });
    group.on("add", function () { draw(ix); });
    data.onMask(function () {
      if (ix.frozen) { return; }
      load(ix);
      ix.shown.clearLayers();  // cluster ids are only valid for the index that made them
      ix.current = {};
      draw(ix);
    });
    data.freeze = function (on) {  // playing: frames are drawn instead (see playback.js)
      ix.frozen = on;
      if (on) { draw(ix); }  // (after playing, the new window's mask rebuilds the index)
    };
  }

  /* Indexes the incidents the time control lets through. */
  function load(ix) {
    var a = ix.a, mask = ix.data.mask, points = [];
    ix.regionOnly = [];  // over a density layer: kept out of the index (never a dot)
    for (var i = 0; i < a.n; i++) {
      if (mask && !mask[i]) { continue; }
      if (ix.o.dots && (a.code[i] >> 5) & 1) { ix.regionOnly.push(i); continue; }
      points.push({type: "Feature", properties: {i: i, k: a.code[i] & 7},
                   geometry: {type: "Point", coordinates: [a.lon[i], a.lat[i]]}});
    }
    // with a density layer on, the incidents are dots above it: only those a few
    // pixels apart are merged (into a dot too), so that no ring hides the density
    ix.index = new Supercluster({
      radius: ix.o.dots ? DOT_MERGE_PX : CLUSTER_RADIUS_PX,
      extent: 256,  // Leaflet's tiles: the radius is in screen pixels
      maxZoom: ix.o.unclusterZoom - 1, minPoints: ix.o.dots ? 2 : 3,
      reduce: ix.reduce
    });
    ix.index.load(points);
    ix.api.indexed = points.length + ix.regionOnly.length;
  }

  /* Over a density layer: dots of this radius, merged when closer than DOT_MERGE_PX
   * (so that the density shows between them however many there are). */
  var DOT_RADIUS_PX = 2.5, DOT_MERGE_PX = 12;

  function pointMarker(ix, i) {
    var a = ix.a, meta = ix.meta, data = ix.data;
    var s = meta.strokes[(a.code[i] >> 3) & 3], region = (a.code[i] >> 5) & 1;
    var dot = ix.o.dots && !region;
    var m = L.circleMarker([a.lat[i], a.lon[i]], {radius: region ? 13 : dot ? DOT_RADIUS_PX : 7,
        color: "#222", weight: dot ? 1 : s[0], dashArray: dot ? null : s[1],
        fillColor: meta.colours[a.code[i] & 7], fillOpacity: region ? 0.18 : 0.9});
    m.fwIndex = i;
    if (data.popups) { m.bindPopup(data.popups[i], POPUP); m.bindTooltip(data.tips[i]); }
    return m;
  }

  /* Incidents known only by their country (or region), all at the point that stands
   * for it: one badge beside that point (never on it, where a deployment may sit),
   * dashed, with their number and a ring of their types. */
  function regionBadge(ix, members) {
    var a = ix.a, data = ix.data;
    var counts = {point_count: members.length,
                  point_count_abbreviated: String(members.length)};
    members.forEach(function (i) {
      var t = "t" + (a.code[i] & 7);
      counts[t] = (counts[t] || 0) + 1;
    });
    var built = clusterElement(counts, ix.meta.types, ix.meta.colours);
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

  /* Incidents a few pixels apart over a density layer: one dot in the colour of the
   * type most of them have, a little larger; a click zooms in until they split. */
  function mergedDot(ix, item) {
    var c = item.geometry.coordinates, p = item.properties, best = 0;
    var counts = ix.meta.types.map(function (t, k) { return p["t" + k] || 0; });
    counts.forEach(function (n, k) { if (n > counts[best]) { best = k; } });
    var m = L.circleMarker([c[1], c[0]], {radius: DOT_RADIUS_PX + 1, color: "#222",
        weight: 1.5, fillColor: ix.meta.colours[best], fillOpacity: 0.9});
    m.fwDot = p.point_count;
    m.bindTooltip(p.point_count + " incidents here (zoom in to tell them apart)");
    m.on("click", function () { expand(ix, item); });
    return m;
  }

  function expand(ix, item) {
    var c = item.geometry.coordinates;
    ix.map.setView([c[1], c[0]],
                   Math.min(ix.index.getClusterExpansionZoom(item.properties.cluster_id), 18));
  }

  /* A cluster's marker; a click zooms in until it splits. */
  function clusterMarker(ix, item) {
    var c = item.geometry.coordinates;
    var built = clusterElement(item.properties, ix.meta.types, ix.meta.colours);
    var m = L.marker([c[1], c[0]], {icon: L.divIcon({html: built.el, className: "",
        iconSize: [built.size, built.size]}), keyboard: false});
    m.fwCounts = built.counts;
    m.on("click", function () { expand(ix, item); });
    return m;
  }

  // layers are kept across redraws so that an open popup survives the map panning to it
  function draw(ix) {
    var current = ix.current;
    var next = ix.map.hasLayer(ix.group) && !ix.frozen ? wanted(ix) : {};
    for (var old in current) { if (!next[old]) { ix.shown.removeLayer(current[old]); } }
    ix.markers = [];
    for (var key in next) {
      if (!current[key]) { ix.shown.addLayer(next[key]); }
      if (next[key].fwIndex !== undefined) { ix.markers.push(next[key]); }
    }
    ix.current = next;
  }

  /* The markers the view (padded by a quarter) needs, by key: those already shown are
   * kept, the others built. */
  function wanted(ix) {
    var a = ix.a, current = ix.current, next = {}, z = Math.round(ix.map.getZoom());
    var b = ix.map.getBounds().pad(0.25);
    var items = ix.index.getClusters([Math.max(b.getWest(), -180), Math.max(b.getSouth(), -85),
        Math.min(b.getEast(), 180), Math.min(b.getNorth(), 85)], z);
    var regions = {};  // region-only incidents by the point that stands for them
    ix.regionOnly.forEach(function (i) {
      if (b.contains([a.lat[i], a.lon[i]])) {
        var at = a.lat[i].toFixed(4) + "," + a.lon[i].toFixed(4);
        (regions[at] = regions[at] || []).push(i);
      }
    });
    for (var k = 0; k < items.length; k++) {
      var p = items[k].properties;
      if (!p.cluster && (a.code[p.i] >> 5) & 1) {
        var at = a.lat[p.i].toFixed(4) + "," + a.lon[p.i].toFixed(4);
        (regions[at] = regions[at] || []).push(p.i);
        continue;
      }
      var key = p.cluster ? "c" + z + ":" + p.cluster_id : "p" + p.i;
      next[key] = current[key] || (!p.cluster ? pointMarker(ix, p.i)
        : ix.o.dots ? mergedDot(ix, items[k]) : clusterMarker(ix, items[k]));
    }
    for (var spot in regions) {
      var members = regions[spot], rkey = "r" + members.join(",");
      next[rkey] = current[rkey] || regionBadge(ix, members);
    }
    return next;
  }

  /* `window.fwIncidents`: what the layer shows, for the page (tests, benchmarks). */
  function inspection(ix) {
    var data = ix.data;
    return {
      total: ix.a.n, indexed: 0,
      markers: function () { return ix.markers; },
      clusters: function () { return clustersShown(ix); },
      // over a density layer: how many dots are drawn, and how many incidents they hold
      dots: function () {
        var out = {dots: 0, incidents: 0};
        for (var key in ix.current) {
          var m = ix.current[key];
          if (m.fwDot || (m.fwIndex !== undefined && !m.fwMembers)) {
            out.dots++;
            out.incidents += m.fwDot || 1;
          }
        }
        return out;
      },
      popup: function (i) { return data.popups ? data.popups[i] : null; },
      tip: function (i) { return data.tips ? data.tips[i] : null; }
    };
  }

  function clustersShown(ix) {
    var out = [];
    for (var key in ix.current) {
      var m = ix.current[key];
      if (m.fwCounts) {
        var counts = {};
        m.fwCounts.forEach(function (c, k) { if (c) { counts[ix.meta.types[k]] = c; } });
        out.push({lat: m.getLatLng().lat, lon: m.getLatLng().lng, counts: counts});
      }
    }
    return out;
  }
})();
