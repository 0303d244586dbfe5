// The page of work running in the task queue (an import, an export): polls its status, shows the progress (a
// percentage bar, or the rows written so far), says when no worker listens, reloads when the work ends.
(function () {
  var box = document.querySelector(".job-progress");
  if (!box) { return; }
  var bar = box.querySelector(".progress-bar[aria-valuenow]");
  var done = box.querySelector(".job-done");
  var noWorker = box.querySelector(".job-no-worker");
  function poll() {
    fetch(box.getAttribute("data-status"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (!s.running) { window.location.reload(); return; }
        if (bar) {
          bar.style.width = s.percent + "%";
          bar.setAttribute("aria-valuenow", s.percent);
          bar.textContent = s.percent + "%";
        }
        if (done) { done.textContent = s.done.toLocaleString("en-US"); }
        noWorker.hidden = !s.no_worker;
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
