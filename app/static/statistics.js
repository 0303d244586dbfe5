/* Completion statistics chart (查询统计 → 完成情况统计): ECharts from the platform itself, data read from the page's
   <script type="application/json" id="completion-chart-data"> (no inline script: the CSP forbids it). */
(function () {
  "use strict";
  function nonZero(p) { return p.value ? String(p.value) : ""; }
  function draw() {
    var box = document.getElementById("completion-chart");
    var source = document.getElementById("completion-chart-data");
    if (!box || !source || typeof window.echarts === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var chart = window.echarts.init(box, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      title: { text: data.title, left: "center", textStyle: { fontSize: 15 } },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 34, data: [data.passed_label, data.not_passed_label] },
      toolbox: { right: 16, feature: { saveAsImage: { title: data.save_label, name: data.file_name,
                                                      pixelRatio: 2, backgroundColor: "#fff" } } },
      grid: { left: 48, right: 24, top: 84, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: data.names,
               axisLabel: { interval: 0, rotate: data.names.length > 6 ? 30 : 0 } },
      yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: data.passed_label, type: "bar", stack: "people", data: data.passed, itemStyle: { color: "#3c8d40" },
          label: { show: true, position: "inside", formatter: nonZero } },
        { name: data.not_passed_label, type: "bar", stack: "people", data: data.not_passed,
          itemStyle: { color: "#c9302c" }, label: { show: true, position: "inside", formatter: nonZero } }
      ]
    });
    box.setAttribute("data-drawn", "1");
    window.addEventListener("resize", function () { chart.resize(); });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
