// The pay page: polls the order's state; once the provider's notice has paid it, goes to the class.
(function () {
  var panel = document.getElementById("pay-panel");
  if (!panel) { return; }
  var state = document.getElementById("order-state");
  function poll() {
    fetch(panel.getAttribute("data-status"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        state.textContent = s.label;
        if (s.state === "paid" && s.next) {
          document.getElementById("pay-waiting").hidden = true;
          document.getElementById("pay-done").hidden = false;
          window.setTimeout(function () { window.location.assign(s.next); }, 800);
          return;
        }
        if (s.state !== "pending") { window.location.reload(); return; }
        window.setTimeout(poll, 2000);
      })
      .catch(function () { window.setTimeout(poll, 4000); });
  }
  window.setTimeout(poll, 1500);
})();
