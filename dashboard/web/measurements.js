/* Measurements (leaflet-measure) that outlive the map. */
(function () {
  "use strict";

  var _ = window.Flankwatch._;

  /* Each finished measurement is kept in the dashboard page (the map is rebuilt when a
   * filter changes) and drawn again, with its length, on the next map; a click on one
   * removes it. */
  _.keepMeasurements = function (map) {
    var kept = _.keptMeasures();
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
  };
})();
