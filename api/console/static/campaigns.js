// Segments and campaigns: save a segment, dry-run and start a campaign, watch every campaign's
// progress live (polled), pause, resume or cancel it. The API does every check; this page shows
// what it answers.
"use strict";
(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const send = (method, url, body) => fetch(url, {
    method, credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);
  const problem = async (r) => { const b = await r.json(); return b.detail || JSON.stringify(b); };

  document.getElementById("segment").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target, filter = {};
    if (f.models.value) filter.models = list(f.models.value);
    if (f.model_year_from.value) filter.model_year_from = Number(f.model_year_from.value);
    if (f.model_year_to.value) filter.model_year_to = Number(f.model_year_to.value);
    if (f.min_software_version.value) filter.min_software_version = f.min_software_version.value;
    if (f.below_software_version.value) filter.below_software_version = f.below_software_version.value;
    if (f.hardware.value) filter.hardware = list(f.hardware.value);
    if (f.dealer_ids.value) filter.dealer_ids = list(f.dealer_ids.value).map(Number);
    if (f.eligible_for.value) filter.eligible_for = f.eligible_for.value;
    const r = await send("POST", "/segments", { name: f.name.value, filter });
    const status = document.getElementById("segment-status");
    if (!r.ok) { status.textContent = `Refused: ${await problem(r)}`; return; }
    const s = await r.json();
    status.textContent = `Saved ${s.name}: ${s.vehicles} vehicles`;
    location.reload();
  });

  const campaign = document.getElementById("campaign");
  const target = () => ({ segment_id: Number(campaign.segment_id.value), feature_code: campaign.feature_code.value,
                          kind: campaign.kind.value });
  document.getElementById("dry-run").addEventListener("click", async () => {
    const out = document.getElementById("dry-result");
    const r = await send("POST", "/campaigns/dry-run", target());
    if (!r.ok) { out.textContent = `Refused: ${await problem(r)}`; return; }
    const d = await r.json();
    out.innerHTML = "";
    const p = document.createElement("p");
    p.textContent = `${d.eligible} of ${d.segment_vehicles} vehicles would get it now.`;
    out.append(p);
    const ul = document.createElement("ul");
    for (const n of d.not_eligible) {
      const li = document.createElement("li");
      li.textContent = `${n.vehicles}: ${n.reason}`;
      ul.append(li);
    }
    out.append(ul);
  });
  campaign.addEventListener("submit", async (e) => {
    e.preventDefault();
    const r = await send("POST", "/campaigns", { ...target(), name: campaign.name.value,
                                                rate_per_minute: Number(campaign.rate_per_minute.value) });
    if (!r.ok) { document.getElementById("dry-result").textContent = `Refused: ${await problem(r)}`; return; }
    location.reload();
  });

  const describe = (p) => `${p.acknowledged} acknowledged, ${p.rejected} rejected, ${p.skipped} skipped, ` +
    `${p.waiting} waiting, ${p.queued} queued, ${p.sent} sent, ${p.timed_out} timed out, ` +
    `${p.cancelled} cancelled (of ${p.vehicles}); ${p.retried} retried`;
  const reasons = (p) => [...Object.entries(p.rejections).map(([r, n]) => `${n} rejected: ${r}`),
                          ...Object.entries(p.skip_reasons).map(([r, n]) => `${n} skipped: ${r}`)].join("; ");
  const rows = () => [...document.querySelectorAll("#campaigns tr[data-campaign]")];
  async function refresh() {
    const r = await fetch("/campaigns", { credentials: "same-origin" });
    if (!r.ok) return;
    const byId = new Map((await r.json()).map((c) => [String(c.id), c]));
    for (const row of rows()) {
      const c = byId.get(row.dataset.campaign);
      if (!c) continue;
      row.querySelector(".state").textContent = c.state;
      row.dataset.state = c.state;
      row.querySelector(".progress").textContent = describe(c.progress);
      row.querySelector(".reasons").textContent = reasons(c.progress) || "none";
    }
  }
  document.getElementById("campaigns").addEventListener("click", async (e) => {
    const action = e.target.dataset && e.target.dataset.action;
    if (!action) return;
    const row = e.target.closest("tr");
    const r = await send("POST", `/campaigns/${row.dataset.campaign}/${action}`);
    if (!r.ok) row.querySelector(".reasons").textContent = `Refused: ${await problem(r)}`;
    await refresh();
  });
  refresh();
  setInterval(refresh, 2000);
})();
