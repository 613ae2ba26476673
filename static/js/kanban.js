/* The project board (templates/projects/board.html): cards dragged between stage columns with SortableJS.
   A drop posts the move as htmx would (HX-Request, the CSRF header); the server answers with the card again, or
   refuses (422, 409) with the reason, and the card snaps back where it was. Without JavaScript, and from the
   keyboard, each card's "Move to…" link leads to the move page, a plain form. */
(function () {
  "use strict";

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || ""; }
    catch (e) { return ""; }
  }

  function say(text, isError) {
    var status = document.getElementById("board-status");
    if (!status) { return; }
    status.textContent = "";
    status.className = "board-status" + (isError ? " form-error" : " flash");
    status.textContent = text;
  }

  function bump(stage, delta) {
    var badge = document.querySelector('[data-count-for="' + stage + '"]');
    if (badge) { badge.textContent = String(Number(badge.textContent) + delta); }
  }

  function putBack(evt) {
    var before = evt.from.children[evt.oldIndex] || null;
    evt.from.insertBefore(evt.item, before);
  }

  function move(evt) {
    if (evt.from === evt.to) { return; }
    var card = evt.item, board = document.getElementById("board");
    var body = new URLSearchParams({stage: evt.to.dataset.stage, version: card.dataset.version,
                                    next: window.location.pathname + window.location.search});
    if (evt.to.dataset.needsReason) {
      var reason = window.prompt(board.dataset.reasonPrompt);
      if (!reason) { putBack(evt); return; }
      body.set("reason", reason);
    }
    card.classList.add("is-moving");
    fetch("/projects/" + card.dataset.projectId + "/move", {
      method: "POST", body: body, credentials: "same-origin",
      headers: {"HX-Request": "true", "X-CSRF-Token": csrfToken(), "Content-Type": "application/x-www-form-urlencoded"}
    }).then(function (response) {
      return response.text().then(function (html) { return {ok: response.ok, html: html}; });
    }).then(function (answer) {
      card.classList.remove("is-moving");
      if (answer.ok) {
        var holder = document.createElement("ul");
        holder.innerHTML = answer.html.trim();
        var fresh = holder.firstElementChild;
        card.replaceWith(fresh);
        if (window.htmx) { window.htmx.process(fresh); }
        bump(evt.from.dataset.stage, -1);
        bump(evt.to.dataset.stage, 1);
        say(fresh.dataset.message || "", false);
      } else {
        putBack(evt);
        var holder2 = document.createElement("div");
        holder2.innerHTML = answer.html;
        // the gates' refusal; or, from an error page (a role that may not move it, an expired form), its message
        var reasons = holder2.querySelector(".refusal") || holder2.querySelector(".error-page p") || holder2;
        say(reasons.textContent.replace(/\s+/g, " ").trim(), true);
      }
    }).catch(function () {
      card.classList.remove("is-moving");
      putBack(evt);
      say(board.dataset.failed, true);
    });
  }

  function init() {
    if (!window.Sortable) { return; }
    document.querySelectorAll(".kanban-cards").forEach(function (list) {
      if (list.dataset.sortable) { return; }
      list.dataset.sortable = "1";
      window.Sortable.create(list, {group: "projects", animation: 120, filter: "a, .kanban-card:not([data-movable])",
                                    preventOnFilter: false, onEnd: move});
    });
  }

  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSettle", init);
})();
