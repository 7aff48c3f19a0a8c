(function () {
  "use strict";
  var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }
  function isNumeric(th) { return th.getAttribute("data-type") === "number"; }
  function cellKey(row, col) {
    var cell = row.cells[col], v = cell.getAttribute("data-sort");
    return v === null ? cell.textContent.trim() : v;
  }
  function missing(v, numeric) { return v === "" || (numeric && isNaN(parseFloat(v))); }
  function compare(a, b, numeric) {
    if (numeric) { var d = parseFloat(a) - parseFloat(b); return isNaN(d) ? 0 : d; }
    return collator.compare(a, b);
  }
  function sortTable(table, th, descending) {
    var col = th.cellIndex, numeric = isNumeric(th), body = table.tBodies[0];
    var keyed = Array.prototype.map.call(body.rows, function (row, i) {
      return {row: row, key: cellKey(row, col), i: i};
    });
    keyed.sort(function (a, b) {
      var ma = missing(a.key, numeric), mb = missing(b.key, numeric);
      if (ma || mb) { return ma === mb ? a.i - b.i : (ma ? 1 : -1); }  // missing values last, both ways
      var c = compare(a.key, b.key, numeric);
      return (descending ? -c : c) || a.i - b.i;
    });
    keyed.forEach(function (k) { body.appendChild(k.row); });
    each(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  function toggle(table, th) { sortTable(table, th, th.getAttribute("aria-sort") === "ascending"); }
  each(document.querySelectorAll("table.sortable"), function (table) {
    each(table.tHead.rows[0].cells, function (th) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { toggle(table, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(table, th); }
      });
    });
  });

  // Self-test, only with ?selftest=1 in the URL (the tests drive headless Chromium with it):
  // every image decoded, every column sorts both ways, nothing fetched; result in #selftest.
  function keys(table, th) {
    return Array.prototype.map.call(table.tBodies[0].rows, function (r) { return cellKey(r, th.cellIndex); });
  }
  function ordered(list, numeric, sign) {
    var seenMissing = false;
    for (var i = 0; i < list.length; i++) {
      if (missing(list[i], numeric)) { seenMissing = true; continue; }
      if (seenMissing) return false;
      if (i > 0 && sign * compare(list[i - 1], list[i], numeric) > 0) return false;
    }
    return true;
  }
  function selftest() {
    var result = {images: 0, images_loaded: 0, broken: [], columns: {}, unsorted: [], resources: 0};
    each(document.images, function (img) {
      result.images++;
      if (img.complete && img.naturalWidth > 0) { result.images_loaded++; } else { result.broken.push(img.alt); }
    });
    var table = document.getElementById("runs");
    each(table.tHead.rows[0].cells, function (th) {
      var numeric = isNumeric(th), name = th.getAttribute("data-key");
      th.click();
      var up = ordered(keys(table, th), numeric, 1) && th.getAttribute("aria-sort") === "ascending";
      th.click();
      var down = ordered(keys(table, th), numeric, -1) && th.getAttribute("aria-sort") === "descending";
      result.columns[name] = up && down;
      if (!(up && down)) result.unsorted.push(name);
    });
    var want = new URLSearchParams(location.search).get("sort");
    each(table.tHead.rows[0].cells, function (th) {
      if (want && th.getAttribute("data-key") === want) {
        th.click();
        if (th.getAttribute("aria-sort") !== "ascending") th.click();
        result.sort = want;
        result.order = Array.prototype.map.call(table.tBodies[0].rows, function (r) {
          return r.getAttribute("data-run");
        });
      }
    });
    result.resources = performance.getEntriesByType("resource").length;
    result.ok = result.images > 0 && result.images_loaded === result.images && result.unsorted.length === 0 &&
      result.resources === 0 && (!want || result.sort === want);
    var out = document.getElementById("selftest");
    out.textContent = JSON.stringify(result);
    out.hidden = false;
    document.title = "selftest: " + (result.ok ? "ok" : "FAILED");
  }
  if (/[?&]selftest=1(&|$)/.test(location.search)) {
    if (document.readyState === "complete") { selftest(); } else { window.addEventListener("load", selftest); }
  }
})();
