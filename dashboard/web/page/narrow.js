/* The dashboard page itself (not the map's frame): on a window 800 px wide or narrower
 * the sidebar starts folded, so that the map has the width (Streamlit folds it by
 * itself only below 768 px). Once per page load, and only while the reader has made no
 * choice of their own, which Streamlit keeps in the browser's storage: the fold done
 * here is not kept there as theirs. */
(function () {
  "use strict";

  var NARROW_PX = 800, KEPT = "stSidebarCollapsed-";

  if (window.fwNarrowChecked) { return; }
  window.fwNarrowChecked = true;
  if (window.innerWidth > NARROW_PX) { return; }

  function keptChoices() {
    try {
      return Object.keys(window.localStorage).filter(function (k) {
        return k.indexOf(KEPT) === 0;
      });
    } catch (e) { return []; }
  }

  function forget(before) {
    keptChoices().forEach(function (k) {
      if (before.indexOf(k) < 0) { window.localStorage.removeItem(k); }
    });
  }

  var before = keptChoices(), tries = 0;
  if (before.length) { return; }
  (function fold() {
    var sidebar = document.querySelector("[data-testid=stSidebar]");
    var button = document.querySelector("[data-testid=stSidebarCollapseButton] button");
    if (sidebar && button && sidebar.getAttribute("data-collapsed") === "false") {
      button.click();
      forget(before);
      setTimeout(function () { forget(before); }, 500);
      return;
    }
    if (sidebar && sidebar.getAttribute("data-collapsed") === "true") { return; }
    if (++tries < 100) { setTimeout(fold, 100); }
  })();
})();
