/* Phones (app/static/mobile.css): a table with a header row shows each row as a card under 576 px, every cell
   preceded by its column's name. This names the cells (data-label) from the header row, once, after loading;
   columns whose header shows no text (the select-all box, a details link) get an empty name; the select-all box
   stays above the cards with its name beside it. */
(function () {
  "use strict";
  function visibleText(cell) {
    var copy = cell.cloneNode(true);
    copy.querySelectorAll(".sr-only, input, button, select").forEach(function (el) { el.remove(); });
    return copy.textContent.replace(/\s+/g, " ").trim();
  }
  function label(table) {
    if (!table.tHead || !table.tHead.rows.length || table.classList.contains("no-cards")) { return; }
    var names = [];
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      for (var i = 0; i < th.colSpan; i += 1) { names.push(visibleText(th)); }
      var all = th.querySelector("input.select-all");  // shown above the cards, named by its title
      if (all) { th.setAttribute("data-select-label", all.getAttribute("aria-label") || all.title || ""); }
    });
    Array.prototype.forEach.call(table.tBodies, function (body) {
      Array.prototype.forEach.call(body.rows, function (row) {
        var column = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          if (!cell.hasAttribute("data-label")) {
            cell.setAttribute("data-label", cell.colSpan > 1 ? "" : (names[column] || ""));
          }
          column += cell.colSpan;
        });
      });
    });
    table.classList.add("card-table");
  }
  document.querySelectorAll("#main-content table").forEach(label);
}());

/* Bootstrap 3's collapse writes aria-expanded on the opened menu panel itself (a plain <div>, where the attribute
   is not allowed) and, since the menu button names the panel by class rather than by id, never on the button.
   Here the panel loses it and the button says whether the menu is open. */
(function () {
  "use strict";
  document.querySelectorAll(".navbar-collapse").forEach(function (panel) {
    var buttons = document.querySelectorAll('.navbar-toggle[data-toggle="collapse"]');
    function sync() {
      if (panel.hasAttribute("aria-expanded")) { panel.removeAttribute("aria-expanded"); }
      var open = String(panel.classList.contains("in") || panel.classList.contains("collapsing") && panel.offsetHeight > 0);
      buttons.forEach(function (button) {
        if (button.getAttribute("aria-expanded") !== open) { button.setAttribute("aria-expanded", open); }
      });
    }
    sync();
    new MutationObserver(sync).observe(panel, {attributes: true, attributeFilter: ["aria-expanded", "class"]});
  });
}());
