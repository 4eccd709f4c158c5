// The console's only script of its own: the overview's daily spend chart (uPlot).
// Loaded from a file (the Content-Security-Policy allows no inline script); the
// figures come from the element's data-chart attribute, and the same figures are in
// a table beside the chart for those who cannot see it.
"use strict";
(function () {
  function draw() {
    var box = document.getElementById("daily-chart");
    if (!box || typeof uPlot === "undefined") return;
    var data = JSON.parse(box.getAttribute("data-chart"));
    var xs = data.days.map(function (d) { return Date.parse(d + "T00:00:00Z") / 1000; });
    var opts = {
      width: Math.max(320, box.clientWidth || 720),
      height: 240,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      legend: { show: false },
      cursor: { show: true },
      // half a day of room on either side, so the first and last bars are whole
      scales: { x: { time: true, range: function (u, min, max) { return [min - 43200, max + 43200]; } }, y: { range: function (u, min, max) { return [0, Math.max(max, 0.000001) * 1.1]; } } },
      axes: [{ stroke: "#222" }, { stroke: "#222", size: 70 }],
      series: [{}, {
        label: box.getAttribute("aria-label") || "",
        stroke: "#0b5394",
        fill: "rgba(11, 83, 148, 0.35)",
        paths: uPlot.paths.bars({ size: [0.7, 40] }),
        points: { show: false }
      }]
    };
    new uPlot(opts, [xs, data.amounts], box);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
