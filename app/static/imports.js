// The batch page of a running import: polls its status, moves the progress bar, reloads when the state changes.
(function () {
  var box = document.querySelector(".import-progress");
  if (!box) { return; }
  var bar = box.querySelector(".progress-bar");
  var noWorker = box.querySelector(".import-no-worker");
  function poll() {
    fetch(box.getAttribute("data-status"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (!s.running) { window.location.reload(); return; }
        bar.style.width = s.percent + "%";
        bar.setAttribute("aria-valuenow", s.percent);
        bar.textContent = s.percent + "%";
        noWorker.hidden = !s.no_worker;
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
