/* A canvas in the map, redrawn after each move (the time control's frames, the
 * hexagons), and the sum that places an incident's Mercator position on the screen. */
(function () {
  "use strict";

  var _ = window.Flankwatch._;

  _.CanvasLayer = L.Layer.extend({
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

  /* Container pixel of a Mercator position (see `mercator` in core.js) on the map as it
   * is now: x * scale + dx, y * scale + dy. */
  _.screenTransform = function (map) {
    var scale = 256 * Math.pow(2, map.getZoom());
    var origin = map.getPixelOrigin();
    var pane = map._getMapPanePos ? map._getMapPanePos() : L.point(0, 0);
    return {scale: scale, dx: pane.x - origin.x, dy: pane.y - origin.y};
  };
})();
