/* The time control: a cursor over the incidents' and tracks' period with a window of
 * steps behind it. Paused, the incidents in the window are clustered as usual (the
 * selection is handed to every layer as the incidents' mask); playing, each frame
 * draws them as dots on a canvas, fading with age, with the aircraft along their
 * tracks and the crossings as they happen. */
(function () {
  "use strict";

  var FW = window.Flankwatch, _ = FW._;
  var HOUR_MS = _.HOUR_MS, NO_TIME = _.NO_TIME;

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

  /* Where the window behind the cursor starts (ms; -Infinity when cumulative). */
  function windowStart(state) {
    return state.cumulative ? -Infinity : shift(state.cursor, state.step, -state.window);
  }

  function cursorText(t, step) {
    var iso = new Date(t).toISOString();
    if (step === "hour") { return iso.slice(0, 10) + " " + iso.slice(11, 16) + "Z"; }
    if (step === "month") { return iso.slice(0, 7); }
    return iso.slice(0, 10);
  }

  FW.playback = function (map, options) {
    FW.incidentData.then(function (data) { buildPlayback(map, options, data); });
  };

  /* The playback (`pb` below, passed to each of the functions that follow): the
   * control's state (what the address and the parent page keep), the incidents visible
   * at the cursor with their opacity, the frame and track layers, the control's
   * elements, and the clock of the frames. */
  function buildPlayback(map, o, data) {
    var period = within(timeSpan(data, o.tracks || []), o.period || []);
    if (!period) { return; }
    var a = data.arrays;
    var pb = {
      map: map, o: o, data: data, a: a, t0: data.meta.t0_hours * HOUR_MS, period: period,
      state: initialState(_.savedState() || o.state, period),
      visible: new Uint8Array(a.n), alpha: new Float32Array(a.n),
      stats: {frames: [], count: 0},
      frameLayer: null, tracks: null, ui: {},
      lastFrame: null, sinceMask: 0, tick: null
    };
    pb.frameLayer = dotLayer(pb);
    pb.tracks = trackMarkers(o);
    pb.tick = function (now) { frame(pb, now); };
    timeControl(pb).addTo(map);
    pb.tracks.layer.addTo(map);
    settle(pb);
    window.fwPlayback = inspection(pb);  // for the page (tests, benchmarks)
  }

  /* The period the dated incidents and the tracks cover, {start, end} in ms; null when
   * nothing is dated. */
  function timeSpan(data, tracks) {
    var a = data.arrays, t0 = data.meta.t0_hours * HOUR_MS;
    var first = Infinity, last = -Infinity;
    for (var i = 0; i < a.n; i++) {
      if (a.start[i] === NO_TIME) { continue; }
      first = Math.min(first, a.start[i]);
      last = Math.max(last, a.start[i] + a.dur[i]);
    }
    tracks.forEach(function (t) {
      first = Math.min(first, (t.times[0] - t0) / HOUR_MS);
      last = Math.max(last, (t.times[t.times.length - 1] - t0) / HOUR_MS);
    });
    if (first === Infinity) { return null; }
    return {start: t0 + first * HOUR_MS, end: t0 + last * HOUR_MS};
  }

  /* The control's axis: the filter's period ([start, end] in ms, either null when the
   * filter leaves that side open, then the records' own), never past now unless a
   * record is; a record that began earlier or ends later is going on over the whole
   * axis and never widens it. */
  function within(span, bounds) {
    if (!span) { return null; }
    var start = bounds[0] == null ? span.start : bounds[0];
    var end = bounds[1] == null ? span.end
      : Math.min(bounds[1], Math.max(span.end, Date.now()));
    return end > start ? {start: start, end: end} : null;
  }

  /* Playing the whole period takes about PLAY_S seconds by default (within PLAY_SLACK_S),
   * in at most MAX_STEPS steps. */
  var PLAY_S = 30, PLAY_SLACK_S = 10, MAX_STEPS = 240, STEP_NAMES = ["hour", "day", "week", "month"];

  /* How many steps of `step` the period {start, end} (ms) holds. */
  function stepsIn(period, step) {
    var span = period.end - period.start;
    return Math.max(1, Math.ceil(span / (step === "month" ? 30.44 * 24 * HOUR_MS : STEPS[step])));
  }

  /* The step and speed (whole steps a second) that play the period in about PLAY_S
   * seconds: the finest step of at most MAX_STEPS steps that comes within PLAY_SLACK_S of
   * it (else the step that comes nearest), or, when the step is given, the speed for
   * it. Returns {step, speed, seconds}. */
  function playDefaults(period, step) {
    var options = (step ? [step] : STEP_NAMES).map(function (name) {
      var n = stepsIn(period, name), speed = Math.max(1, Math.round(n / PLAY_S));
      return {step: name, speed: speed, seconds: n / speed, n: n};
    });
    var fits = options.filter(function (o) {
      return o.n <= MAX_STEPS && Math.abs(o.seconds - PLAY_S) <= PLAY_SLACK_S;
    });
    var best = fits[0] || options.reduce(function (x, y) {
      return Math.abs(y.seconds - PLAY_S) < Math.abs(x.seconds - PLAY_S) ? y : x;
    });
    return {step: best.step, speed: best.speed, seconds: best.seconds};
  }
  FW.playDefaults = playDefaults;  // (for the tests)

  /* The control's state: as the previous map left it, or as the address gave it to the
   * server, or off; a step and speed not given are those that play the period in about
   * 30 s (see playDefaults); the window is 7 steps. */
  function initialState(initial, period) {
    var chosen = playDefaults(period, initial && initial.step);
    return {
      on: !!initial, playing: false,
      step: chosen.step,
      window: (initial && initial.window) || 7,
      cumulative: !!(initial && initial.cumulative),
      speed: (initial && initial.speed) || chosen.speed,
      cursor: initial && initial.cursor !== undefined ? initial.cursor : period.start
    };
  }

  /* Which incidents are on the map at the cursor: started by then, and (unless the
   * window is cumulative) not ended before the window's start. */
  function compute(pb) {
    var state = pb.state, a = pb.a, visible = pb.visible, alpha = pb.alpha;
    var from = windowStart(state);
    var c = (state.cursor - pb.t0) / HOUR_MS, f = (from - pb.t0) / HOUR_MS, span = c - f;
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
    pb.stats.count = count;
    return count;
  }

  // --- frames -------------------------------------------------------------------------

  var DOT_RADIUS = 4.5;

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

  /* The layer of the frames, drawn while playing. */
  function dotLayer(pb) {
    var packed = pb.data.meta.colours.map(rgb), buffer = {image: null, disc: null};
    return new _.CanvasLayer(function (ctx, map, size) {
      if (!pb.state.on || !pb.state.playing) { return; }
      drawDots(pb, ctx, map, size, packed, buffer);
    });
  }

  /* A frame: the visible incidents as dots written straight into the canvas's pixels
   * (a path or a sprite per dot costs a hundred times more at 10^5 dots): a disc in the
   * type's colour with a dark rim, its opacity falling with age. The image and the
   * disc's pixel offsets are kept in `buffer` while the canvas keeps its size. */
  function drawDots(pb, ctx, map, size, packed, buffer) {
    var a = pb.a, visible = pb.visible, alpha = pb.alpha;
    var ratio = window.devicePixelRatio || 1;
    var r = Math.ceil(DOT_RADIUS * ratio), w = Math.round(size.x * ratio) + 2 * r;
    var h = Math.round(size.y * ratio) + 2 * r;
    if (!buffer.image || buffer.image.width !== w || buffer.image.height !== h) {
      buffer.image = ctx.createImageData(w, h);  // a margin of r pixels all round
      buffer.disc = discOffsets(w, DOT_RADIUS * ratio);
    }
    var image = buffer.image, disc = buffer.disc;
    var px = new Uint32Array(image.data.buffer);
    px.fill(0);
    var p = pb.data.projected(), tr = _.screenTransform(map);
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
  }

  // --- tracks: the aircraft's position along its line, crossings as they happen --------

  function trackMarkers(o) {
    return {
      layer: L.layerGroup(),
      planes: (o.tracks || []).map(function (t) {
        return L.circleMarker(t.coords[0], {radius: 6, color: "#000", weight: 2,
                                            fillColor: t.colour, fillOpacity: 1});
      }),
      crossings: (o.crossings || []).map(function (c) {
        return L.circleMarker([c.lat, c.lon], {radius: 8, color: "#c00", weight: 3,
                                               fillColor: "#fff", fillOpacity: 1});
      })
    };
  }

  function trackPositions(pb) {
    var state = pb.state, tracks = pb.tracks;
    tracks.layer.clearLayers();
    if (!state.on) { return; }
    var from = windowStart(state);
    (pb.o.tracks || []).forEach(function (t, k) {
      var at = positionAt(t, state.cursor);
      if (at) { tracks.planes[k].setLatLng(at); tracks.layer.addLayer(tracks.planes[k]); }
    });
    (pb.o.crossings || []).forEach(function (c, k) {
      if (c.time <= state.cursor && c.time >= from) { tracks.layer.addLayer(tracks.crossings[k]); }
    });
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

  // --- the control ----------------------------------------------------------------------

  var CONTROL_HTML = '<button type="button" class="fw-time-toggle">Time</button>' +
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

  function timeControl(pb) {
    // bottom left: clear of the legend (top right) and of the map's middle on a narrow
    // map, where the opened control runs over two or three lines
    var control = L.control({position: "bottomleft"});
    control.onAdd = function () {
      var div = L.DomUtil.create("div", "fw-time"), ui = pb.ui;
      div.innerHTML = CONTROL_HTML;
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      ui.div = div;
      ui.range = div.querySelector("input[type=range]");
      ui.play = div.querySelector("[data-act=play]");
      ui.cursor = div.querySelector(".fw-time-cursor");
      ui.count = div.querySelector(".fw-time-count");
      ui.selects = div.querySelectorAll("select");
      listen(pb, div);
      return div;
    };
    return control;
  }

  function listen(pb, div) {
    var state = pb.state, ui = pb.ui;
    div.querySelector(".fw-time-toggle").addEventListener("click", function () {
      setOn(pb, !state.on);
    });
    div.querySelector("[data-act=back]").addEventListener("click", function () { stepBy(pb, -1); });
    div.querySelector("[data-act=fwd]").addEventListener("click", function () { stepBy(pb, 1); });
    ui.play.addEventListener("click", function () {
      if (state.playing) { pause(pb); } else { play(pb); }
    });
    // while dragging: the cursor and the count; let go: the map follows
    ui.range.addEventListener("input", function () { fromSlider(pb); compute(pb); show(pb); });
    ui.range.addEventListener("change", function () { fromSlider(pb); settle(pb); });
    ui.selects.forEach(function (sel) {
      sel.addEventListener("change", function () {
        choose(state, sel.getAttribute("data-opt"), sel.value);
        settle(pb);
      });
    });
  }

  function fromSlider(pb) {
    var period = pb.period;
    pb.state.cursor = period.start + (period.end - period.start) * pb.ui.range.value / 1000;
  }

  /* An option chosen in the control: `key` is the select's data-opt. */
  function choose(state, key, value) {
    if (key === "window") {
      state.cumulative = value === "all";
      if (!state.cumulative) { state.window = Number(value); }
    } else if (key === "speed") {
      state.speed = Number(value);
    } else {
      state.step = value;
    }
  }

  function show(pb) {
    var state = pb.state, ui = pb.ui, period = pb.period;
    ui.div.classList.toggle("fw-time-on", state.on);
    if (!state.on) { return; }
    ui.play.innerHTML = state.playing ? "&#10074;&#10074;" : "&#9654;";
    ui.play.title = state.playing ? "Pause" : "Play";
    ui.cursor.textContent = cursorText(state.cursor, state.step);
    ui.count.textContent = pb.stats.count.toLocaleString("en") + " incidents";
    var span = period.end - period.start || 1;
    ui.range.value = Math.round(1000 * (state.cursor - period.start) / span);
    ui.selects[0].value = state.step;
    ui.selects[1].value = state.cumulative ? "all" : String(state.window);
    showSpeed(ui.selects[2], state.speed);
  }

  /* The speed's select, with an option of its own for a speed not listed (a default
   * worked out from the period). */
  function showSpeed(select, speed) {
    var value = String(speed);
    if (!select.querySelector("option[value='" + value + "']")) {
      var option = document.createElement("option");
      option.value = value;
      option.textContent = value + " steps/s";
      var later = Array.prototype.filter.call(select.options, function (o) {
        return Number(o.value) > speed;
      })[0];
      select.insertBefore(option, later || null);
    }
    select.value = value;
  }

  // --- paused and playing ---------------------------------------------------------------

  /* Paused (or changed): the selection of the window is clustered as usual. */
  function settle(pb) {
    var state = pb.state;
    if (state.on) { compute(pb); }
    pb.data.setMask(state.on ? pb.visible.slice() : null);
    trackPositions(pb);
    show(pb);
    _.writeAddress(state.on ? state : null);
  }

  function setOn(pb, on) {
    pb.state.on = on;
    if (!on) { pause(pb); }
    settle(pb);
  }

  function stepBy(pb, k) {
    pause(pb);
    pb.state.cursor = shift(pb.state.cursor, pb.state.step, k);
    settle(pb);
  }

  function frame(pb, now) {
    var state = pb.state, period = pb.period;
    if (!state.playing) { return; }
    var dt = 0;
    if (pb.lastFrame !== null) {
      dt = now - pb.lastFrame;
      pb.stats.frames.push(dt);
      state.cursor = shift(state.cursor, state.step, state.speed * dt / 1000);
    }
    pb.lastFrame = now;
    if (state.cursor >= period.end) { state.cursor = period.end; }
    compute(pb);
    pb.frameLayer.redraw();
    trackPositions(pb);
    show(pb);
    pb.sinceMask += dt || 0;
    if (pb.sinceMask > 250) { pb.sinceMask = 0; pb.data.setMask(pb.visible); }  // density layers follow
    if (state.cursor >= period.end) { pause(pb); return; }
    requestAnimationFrame(pb.tick);
  }

  function play(pb) {
    var state = pb.state;
    if (!state.on) { state.on = true; }
    if (state.cursor >= pb.period.end) { state.cursor = pb.period.start; }
    state.playing = true;
    pb.lastFrame = null;
    if (pb.data.freeze) { pb.data.freeze(true); }
    pb.frameLayer.addTo(pb.map);
    requestAnimationFrame(pb.tick);
    show(pb);
  }

  function pause(pb) {
    if (!pb.state.playing) { return; }
    pb.state.playing = false;
    pb.map.removeLayer(pb.frameLayer);
    if (pb.data.freeze) { pb.data.freeze(false); }
    settle(pb);
  }

  /* `window.fwPlayback`: the control's state and actions, for the page (tests,
   * benchmarks). */
  function inspection(pb) {
    var tracks = pb.tracks;
    return {
      state: function () { return Object.assign({}, pb.state); },
      period: pb.period, stats: pb.stats,
      play: function () { play(pb); },
      pause: function () { pause(pb); },
      step: function (k) { stepBy(pb, k); },
      setOn: function (on) { setOn(pb, on); },
      visible: function () { return pb.stats.count; },
      planes: function () {
        return tracks.layer.getLayers().filter(function (l) {
          return tracks.planes.indexOf(l) >= 0;
        }).map(function (l) { return [l.getLatLng().lat, l.getLatLng().lng]; });
      },
      crossings: function () {
        return tracks.layer.getLayers().filter(function (l) {
          return tracks.crossings.indexOf(l) >= 0;
        }).length;
      }
    };
  }
})();
