// Draws every chart of the page: each <script type="application/json" data-chart-for="ID">
// holds an ECharts option built on the server; the chart goes into the element with that id.
(function () {
  "use strict";
  function draw() {
    if (typeof echarts === "undefined") { return; }
    var charts = [];
    document.querySelectorAll("script[data-chart-for]").forEach(function (data) {
      var el = document.getElementById(data.getAttribute("data-chart-for"));
      if (!el) { return; }
      var chart = echarts.init(el, null, { renderer: "svg" });
      chart.setOption(JSON.parse(data.textContent));
      el.setAttribute("data-drawn", "true");
      charts.push(chart);
    });
    var pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(function () { charts.forEach(function (c) { c.resize(); }); }, 100);
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
