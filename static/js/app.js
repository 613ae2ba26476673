/* Behaviour the templates used to carry inline (onclick=, javascript: links), here so the Content-Security-Policy
   can refuse every inline script (crm/security_headers.py). Delegated from the document: it works the same on
   content htmx swaps in later.
   - [data-select-on-click]: a read-only field whose text is selected when clicked (an address to copy);
   - [data-history-back]: a button that goes back one page; hidden without JavaScript, shown here. */
(function () {
  "use strict";

  function reveal(root) {
    if (!root || !root.querySelectorAll) { return; }
    root.querySelectorAll("[data-history-back][hidden]").forEach(function (button) { button.hidden = false; });
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) { return; }
    var field = target.closest("[data-select-on-click]");
    if (field && typeof field.select === "function") { field.select(); }
    if (target.closest("[data-history-back]")) {
      event.preventDefault();
      window.history.back();
    }
  });

  document.addEventListener("DOMContentLoaded", function () { reveal(document.body); });
  document.addEventListener("htmx:load", function (event) { reveal(event.target); });
}());
