// Polls: progressive enhancement only; every action works without this file.
(function () {
  "use strict";
  // htmx leaves 4xx answers unswapped by default. The vote form marks itself with
  // data-swap-errors so that its refusal ("this poll has closed", "choose at most 2") replaces
  // the panel and the voter sees why, instead of a button that seems to do nothing.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    var status = event.detail.xhr.status;
    if (source && source.closest("[data-swap-errors]") && status >= 400 && status < 500) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  // A network failure or a server error: say so next to the button.
  document.addEventListener("htmx:sendError", showFailure);
  document.addEventListener("htmx:responseError", function (event) {
    if (event.detail.xhr.status >= 500) { showFailure(event); }
  });
  function showFailure(event) {
    var form = event.detail.elt && event.detail.elt.closest("[data-swap-errors]");
    if (!form) { return; }
    var note = form.querySelector(".poll-vote-failed");
    if (!note) {
      note = document.createElement("p");
      note.className = "error poll-vote-failed";
      note.setAttribute("role", "alert");
      form.appendChild(note);
    }
    note.textContent = form.getAttribute("data-failed-text") || "Your vote could not be sent. Please try again.";
  }
  // Copy the share link.
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      if (!navigator.clipboard) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        var input = document.querySelector(button.getAttribute("data-copy"));
        navigator.clipboard.writeText(input.value).then(function () {
          button.textContent = button.getAttribute("data-copied");
        });
      });
    });
  });
})();
