// The decisions table's filter: a text box and three selects; rows that do not
// match are hidden, and the count above the table says how many are shown.
(function () {
  "use strict";
  var table = document.getElementById("decisions");
  if (!table) { return; }
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var text = document.getElementById("filter-text");
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  var shown = document.getElementById("shown-count");
  function apply() {
    var needle = text.value.trim().toLocaleLowerCase("tr");
    var count = 0;
    rows.forEach(function (row) {
      var match = !needle || row.textContent.toLocaleLowerCase("tr").indexOf(needle) !== -1;
      selects.forEach(function (select) {
        if (select.value && row.getAttribute("data-" + select.getAttribute("data-filter")) !== select.value) {
          match = false;
        }
      });
      row.hidden = !match;
      if (match) { count += 1; }
    });
    shown.textContent = String(count);
  }
  text.addEventListener("input", apply);
  selects.forEach(function (select) { select.addEventListener("change", apply); });
  apply();
}());
