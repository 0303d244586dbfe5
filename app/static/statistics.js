/* Statistics charts (查询统计): ECharts from the platform itself, data read from the page's
   <script type="application/json"> (no inline script: the CSP forbids it). The completion page draws passed and
   not passed per org (#completion-chart); the distribution pages draw the series of #distribution-chart-data
   (categories `names`, `series` of {name, data}, stacked when `stack`). Both export as PNG from the toolbox. */
(function () {
  "use strict";
  function nonZero(p) { return p.value ? String(p.value) : ""; }
  /* The chart of the page's box `name`-chart with the data of `name`-chart-data ({box, data, chart}), or null. */
  function open(name) {
    var box = document.getElementById(name + "-chart");
    var source = document.getElementById(name + "-chart-data");
    if (!box || !source || typeof window.echarts === "undefined") { return null; }
    return { box: box, data: JSON.parse(source.textContent),
             chart: window.echarts.init(box, null, { renderer: "canvas" }) };
  }
  function done(found) {
    found.box.setAttribute("data-drawn", "1");
    window.addEventListener("resize", function () { found.chart.resize(); });
  }
  function draw() {
    var found = open("completion");
    if (!found) { return; }
    var data = found.data, chart = found.chart;
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
    done(found);
  }
  var SHOWN = 20;
  var COLORS = ["#337ab7", "#3c8d40", "#f0ad4e", "#c9302c", "#5bc0de", "#777777"];
  function drawDistribution() {
    var found = open("distribution");
    if (!found) { return; }
    var data = found.data, chart = found.chart;
    var many = data.names.length > 8, crowded = data.names.length > SHOWN;
    chart.setOption({
      animation: false,
      color: COLORS,
      title: { text: data.title, left: "center", textStyle: { fontSize: 15 } },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 34, data: data.series.map(function (s) { return s.name; }) },
      toolbox: { right: 16, feature: { saveAsImage: { title: data.save_label, name: data.file_name,
                                                      pixelRatio: 2, backgroundColor: "#fff" } } },
      grid: { left: 48, right: 24, top: 84, bottom: crowded ? 48 : 8, containLabel: true },
      // more than SHOWN categories (a city's hundreds of orgs): the first SHOWN, the rest by the slider below
      dataZoom: crowded ? [{ type: "slider", bottom: 8, startValue: 0, endValue: SHOWN - 1, zoomLock: true }] : [],
      xAxis: { type: "category", data: data.names,
               axisLabel: { interval: 0, rotate: many ? 35 : 0, width: 110, overflow: "truncate" } },
      yAxis: { type: "value", minInterval: 1 },
      series: data.series.map(function (s) {
        return { name: s.name, type: "bar", stack: data.stack ? "people" : undefined, data: s.data,
                 label: { show: !many || data.series.length === 1, position: data.stack ? "inside" : "top",
                          formatter: nonZero } };
      })
    });
    done(found);
  }
  function drawAll() { draw(); drawDistribution(); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", drawAll); } else { drawAll(); }
})();
