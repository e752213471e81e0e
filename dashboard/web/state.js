/* What the map keeps in the dashboard page (the parent window): the time control's
 * state in the page's address and, between two drawings of the map (its frame is
 * replaced when the data change), the paused time control and the finished
 * measurements. Nothing else touches window.parent. */
(function () {
  "use strict";

  var _ = window.Flankwatch._;

  function isoMinute(t) { return new Date(t).toISOString().slice(0, 16); }

  /* Writes the time state into the dashboard page's address, so that a shared link
   * opens at the same moment, and tells Streamlit (a "popstate" event: it reads the
   * address again and runs the script with it), so that the server keeps it. Only when
   * the address changes: never per frame. */
  _.writeAddress = function (state) {
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
  };

  /* The time control's state as the previous map left it (null: none). */
  _.savedState = function () {
    try { return window.parent.fwPlaybackState || null; } catch (e) { return null; }
  };

  /* The finished measurements, kept in the dashboard page (in this frame when the page
   * cannot be reached): a list the caller adds to and removes from. */
  _.keptMeasures = function () {
    var host;
    try { host = window.parent; host.fwMeasures = host.fwMeasures || []; } catch (e) { host = window; }
    host.fwMeasures = host.fwMeasures || [];
    return host.fwMeasures;
  };
})();
