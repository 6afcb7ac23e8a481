// The correction dialog: a "Correct" link loads its form into #fix (htmx); a saved correction answers
// with an empty body (and HX-Trigger: live:refresh), which closes it.
document.addEventListener("htmx:afterSwap", function (e) {
  var d = document.getElementById("fix");
  if (e.detail.target !== d) return;
  if (d.innerHTML.trim()) { if (!d.open) d.showModal(); var f = d.querySelector("input:not([type=hidden]), select, textarea"); if (f) f.focus(); }
  else if (d.open) { d.close(); }
});
(function () {
  var charts = document.getElementById("chart-vitals");
  if (!charts) return;
  var chartUrl = charts.dataset.chartUrl;
  // Axis times in the clinic's zone, as every time written on the page (not the device's zone).
  var zone = charts.dataset.zone;
  function tzDate(ts) { return uPlot.tzDate(new Date(ts * 1e3), zone); }
  var plots = {};
  // One time window for both charts, so a vital sign sits above the effect at the same moment:
  // from the first point to the last point or now, whichever is later.
  function window_(data) {
    var all = [Date.now() / 1e3].concat(data.vitals.t, data.predicted.t || [],
      data.ratings.map(function (r) { return r.t; }), data.doses.map(function (d) { return d.t; }));
    return [Math.min.apply(null, all), Math.max.apply(null, all)];
  }
  function width(el) { return Math.max(300, el.parentElement.clientWidth - 10); }
  function hline(u, y, color, scale) {
    if (y == null) return;
    var ctx = u.ctx, py = u.valToPos(y, scale || "y", true);
    ctx.save(); ctx.strokeStyle = color; ctx.setLineDash([6, 4]); ctx.beginPath();
    ctx.moveTo(u.bbox.left, py); ctx.lineTo(u.bbox.left + u.bbox.width, py); ctx.stroke(); ctx.restore();
  }
  function vlines(u, doses) {
    var ctx = u.ctx; ctx.save(); ctx.fillStyle = "#333"; ctx.font = "12px sans-serif";
    doses.forEach(function (d) {
      var px = u.valToPos(d.t, "x", true); ctx.strokeStyle = "#777"; ctx.beginPath();
      ctx.moveTo(px, u.bbox.top); ctx.lineTo(px, u.bbox.top + u.bbox.height); ctx.stroke();
      ctx.fillText(d.label, px + 3, u.bbox.top + 12);
    });
    ctx.restore();
  }
  function draw(data) {
    var v = data.vitals, th = data.thresholds, el = document.getElementById("chart-vitals");
    var vd = [v.t, v.systolic, v.diastolic, v.hr, v.spo2, v.rr], span = window_(data);
    var x = {time: true, range: function () { return span; }};
    if (plots.v) plots.v.destroy();
    plots.v = new uPlot({width: width(el), height: 260, tzDate: tzDate, scales: {x: x, y: {range: [0, 220]}},
      series: [{}, {label: "Systolic", stroke: "#b22"}, {label: "Diastolic", stroke: "#e77"},
               {label: "HR", stroke: "#22b"}, {label: "SpO2", stroke: "#2a2"}, {label: "RR", stroke: "#a6a"}],
      hooks: {draw: [function (u) { hline(u, th.severe_systolic, "#b22"); hline(u, th.severe_diastolic, "#e77");
        hline(u, th.max_hr, "#22b"); hline(u, th.spo2_low, "#2a2"); vlines(u, data.doses); }]}}, vd, el);
    // Two constructs, two axes: recorded ratings (% of their own scale) on the left, the predicted
    // effect-site concentration (ng/mL, with the 5-95% band of similar patients) on the right.
    var p = data.predicted, e = document.getElementById("chart-effect");
    var ts = (p.t || []).slice(), rs = data.ratings;
    rs.forEach(function (r) { ts.push(r.t); });
    ts = Array.from(new Set(ts)).sort(function (a, b) { return a - b; });
    var pm = {}, lo = {}, hi = {}, cm = {}, mm = {};
    (p.t || []).forEach(function (t, i) {
      pm[t] = p.effect_ng_per_ml[i];
      if (p.band_low && p.band_low.length) { lo[t] = p.band_low[i]; hi[t] = p.band_high[i]; }
    });
    rs.forEach(function (r) { if (r.kind === "moaas") mm[r.t] = r.pct; else cm[r.t] = r.pct; });
    function col(m) { return ts.map(function (t) { return t in m ? m[t] : null; }); }
    var ed = [ts, col(pm), col(lo), col(hi), col(cm), col(mm)];
    if (plots.e) plots.e.destroy();
    plots.e = new uPlot({width: width(e), height: 220, tzDate: tzDate,
      scales: {x: x, y: {range: [0, 100]}, conc: {range: function (u, min, max) { return [0, Math.max(50, max * 1.1)]; }}},
      axes: [{}, {scale: "y", label: "recorded, % of scale"}, {scale: "conc", side: 1, label: "predicted ng/mL", grid: {show: false}}],
      series: [{}, {label: "Predicted brain level (ng/mL)", stroke: "#555", scale: "conc", spanGaps: true},
               {label: "5-95% low", stroke: "#bbb", scale: "conc", dash: [4, 4], spanGaps: true},
               {label: "5-95% high", stroke: "#bbb", scale: "conc", dash: [4, 4], spanGaps: true},
               {label: "CADSS % of scale", stroke: "#d60", width: 0, points: {size: 9, fill: "#d60"}},
               {label: "Sedation % of scale", stroke: "#06a", width: 0, points: {size: 9, fill: "#06a"}}],
      hooks: {draw: [function (u) {
        vlines(u, data.doses); hline(u, p.unnoticeable_ng_per_ml, "#1b7a3d", "conc");
        if (p.given_until_t) { vlines(u, [{t: p.given_until_t, label: "now: forecast after"}]); }
      }]}}, ed, e);
  }
  function load() { fetch(chartUrl, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(draw); }
  document.addEventListener("live:refresh", load);
  load();
})();
