// A signal over a window, downsampled on the server: min-max band and mean, thresholds drawn.
// Axes and legend speak the browser's language: a French dealer reads 02/12 14:00, not 12/2 2pm.
"use strict";
(async () => {
  const box = document.getElementById("chart");
  const caption = document.getElementById("chart-caption");
  const { vin, signal, unit } = box.dataset;
  const thresholds = JSON.parse(box.dataset.thresholds);
  const to = new Date();
  const from = new Date(to.getTime() - Number(box.dataset.days) * 86400e3);
  const width = Math.max(320, Math.min(box.clientWidth || 900, 1400));
  const points = Math.min(1000, Math.floor(width / 2));
  const url = `/vehicles/${vin}/signals/${encodeURIComponent(signal)}/buckets?from=${from.toISOString()}`
    + `&to=${to.toISOString()}&points=${points}`;
  const r = await fetch(url, { credentials: "same-origin" });
  if (!r.ok) { caption.textContent = `Could not load the signal (${r.status}).`; return; }
  const body = await r.json();
  const b = body.buckets;
  // the window's ends frame the buckets, so that threshold lines run across the whole chart
  const xs = [from.getTime() / 1000, ...b.map((p) => Date.parse(p.ts) / 1000), to.getTime() / 1000];
  const column = (key) => [null, ...b.map((p) => p[key]), null];
  const data = [xs, column("min"), column("mean"), column("max")];
  const series = [
    {},
    { label: "min", stroke: "#7aa6d8", width: 1, spanGaps: false },
    { label: "mean", stroke: "#1f4e79", width: 2, spanGaps: false },
    { label: "max", stroke: "#7aa6d8", width: 1, spanGaps: false },
  ];
  for (const t of thresholds) {
    data.push(xs.map(() => t.value));
    series.push({ label: `${t.label} (${t.value} ${unit})`, stroke: "#c0392b", width: 1, dash: [6, 4], points: { show: false } });
  }
  const days = Number(box.dataset.days);
  const tick = new Intl.DateTimeFormat(undefined, days <= 2 ? { hour: "2-digit", minute: "2-digit" }
    : days <= 62 ? { day: "2-digit", month: "2-digit" } : { month: "short", year: "numeric" });
  const moment = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "short" });
  const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
  const timeLabels = (u, splits) => {
    const labels = splits.map((s) => tick.format(new Date(s * 1000)));
    box.dataset.xLabels = labels.join("|");  // what the axis shows, for people and for tests
    return labels;
  };
  series[0] = { value: (u, s) => (s == null ? "–" : moment.format(new Date(s * 1000))) };
  for (const s of series.slice(1)) s.value = (u, v) => (v == null ? "–" : `${number.format(v)} ${unit}`);
  const plot = new uPlot({
    width, height: 320, series,
    axes: [{ values: timeLabels }, { label: unit, values: (u, splits) => splits.map((v) => number.format(v)) }],
    scales: { x: { time: true, min: from.getTime() / 1000, max: to.getTime() / 1000 } },
  }, data, box);
  box.dataset.points = String(b.length);
  box.dataset.ready = "true";
  caption.textContent = b.length
    ? `${b.length} intervals of ${number.format(Math.round(body.bucket_s))} s, `
      + `${number.format(b.reduce((n, p) => n + p.n, 0))} values.`
    : "No values in this window.";
  window.addEventListener("resize", () => plot.setSize({ width: Math.max(320, box.clientWidth), height: 320 }));
})();
