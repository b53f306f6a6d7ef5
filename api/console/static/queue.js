// The queue of incidents: live rows from the alert stream (each alert names its incident),
// one-click actions on the JSON API, keyboard.
"use strict";
(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;  // sent with every change
  const rows = document.getElementById("rows");
  const live = document.getElementById("live");
  const empty = document.getElementById("empty");
  const filters = JSON.parse(rows.dataset.filters);
  const advisor = rows.dataset.advisor;
  const query = new URLSearchParams(Object.entries(filters).map(([k, v]) => [k, String(v)])).toString();

  async function fetchRow(id) {
    const r = await fetch(`/console/rows/${id}?${query}`, { credentials: "same-origin" });
    if (r.status !== 200) return null;
    const t = document.createElement("tbody");
    t.innerHTML = (await r.text()).trim();
    return t.firstElementChild;
  }

  async function refresh(id, { highlight = false } = {}) {
    const fresh = await fetchRow(id);
    const old = rows.querySelector(`tr[data-incident="${id}"]`);
    if (fresh && highlight) fresh.classList.add("new");
    if (old && fresh) old.replaceWith(fresh);
    else if (old) old.remove();
    else if (fresh) rows.prepend(fresh);
    empty.hidden = rows.children.length > 0;
    return fresh;
  }

  async function act(tr, action) {
    const id = tr.dataset.incident;
    const operation = tr.querySelector("[data-operation]");
    const body = action === "assign" ? { to: advisor }
      : action === "resolve" ? {
        by: advisor, outcome: tr.querySelector("[data-outcome]").value,
        ...(operation && operation.value.trim() ? { operation: operation.value.trim() } : {}),
      }
      : { by: advisor };
    const r = await fetch(`/incidents/${id}/${action}`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body),
    });
    if (!r.ok) {  // nothing changed: the row keeps what the advisor chose and typed
      live.textContent = `Incident ${id}: ${(await r.json()).detail}`;
      return;
    }
    live.textContent = `Incident ${id}: ${action} done.`;
    const fresh = await refresh(id);
    if (fresh) select(fresh);
  }

  rows.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    if (button) act(button.closest("tr"), button.dataset.action);
  });

  let current = null;
  function select(tr) {
    if (current) current.classList.remove("selected");
    current = tr;
    if (tr) { tr.classList.add("selected"); tr.focus(); }
  }
  document.addEventListener("keydown", (e) => {
    if (e.target.matches("input, select, textarea") || e.ctrlKey || e.metaKey || e.altKey) return;
    const all = [...rows.children];
    const i = all.indexOf(current);
    const press = {
      j: () => select(all[Math.min(i + 1, all.length - 1)] || null),
      k: () => select(all[Math.max(i - 1, 0)] || null),
      a: () => current && current.querySelector('[data-action="acknowledge"]') && act(current, "acknowledge"),
      m: () => current && current.querySelector('[data-action="assign"]') && act(current, "assign"),
      r: () => current && current.querySelector('[data-action="resolve"]') && act(current, "resolve"),
      Enter: () => current && (location.href = current.querySelector("a.title").href),
    }[e.key];
    if (press) { e.preventDefault(); press(); }
  });

  const stream = new EventSource("/alerts/stream");
  stream.addEventListener("end", () => { stream.close(); window.location.assign("/console/login"); });
  stream.addEventListener("open", () => { live.textContent = "Live: new problems appear here as they are raised."; });
  stream.addEventListener("error", () => { live.textContent = "Live feed interrupted; reconnecting…"; });
  stream.addEventListener("alert", (e) => {
    const alert = JSON.parse(e.data);
    if (alert.incident_id == null) return;
    refresh(alert.incident_id, { highlight: true }).then((row) => {
      if (row) live.textContent = `New alert: ${alert.title} on ${alert.vin}.`;
    });
  });
})();
