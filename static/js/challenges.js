// Countdowns: the server writes "3 days left"; while the page stays open, keep it current every
// minute in the page's language. Without JavaScript the server's text stands.
(function () {
  "use strict";
  var lang = document.documentElement.lang || "en";
  if (!window.Intl || !Intl.RelativeTimeFormat) { return; }
  var format = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
  function refresh() {
    var nodes = document.querySelectorAll("[data-countdown]");
    for (var i = 0; i < nodes.length; i++) {
      var target = Date.parse(nodes[i].getAttribute("data-countdown"));
      if (isNaN(target)) { continue; }
      var seconds = (target - Date.now()) / 1000;
      if (seconds <= 0) { continue; }
      var text;
      if (seconds >= 86400) { text = format.format(Math.floor(seconds / 86400), "day"); }
      else if (seconds >= 3600) { text = format.format(Math.floor(seconds / 3600), "hour"); }
      else { text = format.format(Math.max(1, Math.floor(seconds / 60)), "minute"); }
      nodes[i].textContent = text;
    }
  }
  document.addEventListener("DOMContentLoaded", function () { setInterval(refresh, 60000); });
})();
