// The dashboard's charts, drawn with the vendored Chart.js from figures the page carries as JSON.
(function () {
  "use strict";
  const source = document.getElementById("chart-data");
  if (!source || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  const pct = (part, whole) => (whole ? Math.round((1000 * part) / whole) / 10 : 0);
  const charts = [];

  const groups = document.getElementById("chart-groups");
  if (groups) {
    charts.push(new Chart(groups, {
      type: "bar",
      data: {
        labels: data.groups,
        datasets: [
          { label: "已提交（%）", data: data.submitted.map((n, i) => pct(n, data.units[i])), backgroundColor: "#b3261e" },
          { label: "已填完（%）", data: data.complete.map((n, i) => pct(n, data.units[i])), backgroundColor: "#e8a33d" },
          { label: "应填项目已填（%）", data: data.filled, backgroundColor: "#8fb8de" },
        ],
      },
      options: {
        plugins: { title: { display: true, text: "各联络组完成情况" } },
        scales: { y: { min: 0, max: 100, ticks: { callback: (v) => v + "%" } } },
      },
    }));
  }

  const scores = document.getElementById("chart-scores");
  if (scores) {
    charts.push(new Chart(scores, {
      type: "bar",
      data: {
        labels: data.bins.map((b) => b.from + "–" + b.to),
        datasets: [{ label: "单位数", data: data.bins.map((b) => b.units), backgroundColor: "#b3261e" }],
      },
      options: {
        plugins: { title: { display: true, text: "自查总分分布（满分 " + data.max_score + " 分）" }, legend: { display: false } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    }));
  }

  const final = document.getElementById("chart-final");
  if (final) {
    charts.push(new Chart(final, {
      type: "bar",
      data: {
        labels: data.final_bins.map((b) => b.from + "–" + b.to),
        datasets: [{ label: "单位数", data: data.final_bins.map((b) => b.units), backgroundColor: "#b3261e" }],
      },
      options: {
        plugins: { title: { display: true, text: "总分分布" }, legend: { display: false } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    }));
  }

  // Printing lays the page out at A4 width: redraw the charts at that size, then back.
  window.addEventListener("beforeprint", () => charts.forEach((c) => c.resize()));
  window.addEventListener("afterprint", () => charts.forEach((c) => c.resize()));
})();
