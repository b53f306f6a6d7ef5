// Activate an option and watch its state until the vehicle answers.
"use strict";
(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;  // sent with every change
  const form = document.getElementById("activate");
  const status = document.getElementById("activation");
  const log = document.getElementById("activation-log");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const vin = form.vin.value.trim().toUpperCase();
    const code = form.feature.value;
    const r = await fetch(`/vehicles/${vin}/features/${code}/activations`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID(), "X-CSRF-Token": csrf },
      body: JSON.stringify({ kind: form.kind.value }),
    });
    const body = await r.json();
    if (!r.ok) { status.textContent = `Refused: ${body.reason || body.detail}`; status.dataset.state = "refused"; return; }
    watch(vin, body.id);
  });

  async function watch(vin, id) {
    for (;;) {
      const r = await fetch(`/vehicles/${vin}/entitlements/${id}`, { credentials: "same-origin" });
      const e = await r.json();
      status.textContent = `${e.feature_code} on ${vin}: ${e.state}`;
      status.dataset.state = e.state;
      log.innerHTML = "";
      for (const ev of e.events) {
        const li = document.createElement("li");
        li.textContent = `${new Date(ev.at).toLocaleTimeString()} ${ev.event}: ${ev.detail}`;
        log.append(li);
      }
      if (e.state !== "pending") return;
      await new Promise((done) => setTimeout(done, 1000));
    }
  }
})();
