// Presenter view: keyboard navigation, full screen, and live updates from server-sent events.
// Progressive enhancement only: every control is a plain form that works without this file.
(function () {
  "use strict";
  function press(name) {
    var button = document.querySelector('[data-key="' + name + '"]');
    if (button && !button.hidden) { button.click(); }
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) { return; }
    var tag = (event.target && event.target.tagName) || "";
    if (/^(INPUT|TEXTAREA|SELECT|BUTTON|A|SUMMARY)$/.test(tag) && event.key === " ") { return; }
    if (/^(INPUT|TEXTAREA|SELECT)$/.test(tag)) { return; }
    var rtl = document.documentElement.dir === "rtl";
    switch (event.key) {
      case "ArrowRight": press(rtl ? "previous" : "next"); break;
      case "ArrowLeft": press(rtl ? "next" : "previous"); break;
      case "PageDown": case " ": press("next"); break;
      case "PageUp": press("previous"); break;
      case "r": case "R": press("reveal"); break;
      case "f": case "F": toggleFullScreen(); break;
      default: return;
    }
    event.preventDefault();
  });
  function toggleFullScreen() {
    if (!document.fullscreenElement && document.documentElement.requestFullscreen) {
      document.documentElement.requestFullscreen();
    } else if (document.exitFullscreen) {
      document.exitFullscreen();
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    var full = document.querySelector('[data-key="fullscreen"]');
    if (full && document.documentElement.requestFullscreen) {
      full.hidden = false;
      full.addEventListener("click", toggleFullScreen);
    }
    var url = document.body.getAttribute("data-events-url");
    if (url && window.EventSource && window.htmx) {
      var source = new EventSource(url);
      source.addEventListener("update", function () {
        window.htmx.trigger(document.body, "workshop-update");
      });
    }
  });
})();
