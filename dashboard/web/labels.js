/* Place names on the offline basemap. */
(function () {
  "use strict";

  var FW = window.Flankwatch;

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
})();
