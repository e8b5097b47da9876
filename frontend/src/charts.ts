// One Chart.js line chart per metric over versions; the champion's point is a gold star.
import {
  CategoryScale,
  Chart,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
  type PointStyle,
} from "chart.js";
import { h } from "./dom";
import { METRIC_LABELS, METRICS, type Metric, type ModelVersion } from "./types";

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Tooltip);

const COLORS = { line: "#1f6fb2", point: "#1f6fb2", champion: "#d99a00", rejected: "#9aa5b1" };
const charts = new Map<Metric, { chart: Chart<"line">; figure: HTMLElement; canvas: HTMLCanvasElement }>();

function isRejected(model: ModelVersion): boolean {
  return model.status === "REJECTED" || model.status === "FAILED";
}

export function renderCharts(container: HTMLElement, models: ModelVersion[], champion: number | null): void {
  const points = models
    .filter((model) => Object.keys(model.metrics ?? {}).length > 0)
    .sort((a, b) => a.version - b.version);
  for (const name of METRICS) {
    let entry = charts.get(name);
    if (!entry) {
      const canvas = h("canvas", { role: "img", "data-testid": `chart-canvas-${name}` });
      const figure = h(
        "figure",
        { class: "chart", "data-testid": `chart-${name}` },
        h("figcaption", {}, METRIC_LABELS[name]),
        h("div", { class: "chart-box" }, canvas),
      );
      container.append(figure);
      const config: ChartConfiguration<"line"> = {
        type: "line",
        data: { labels: [], datasets: [{ label: METRIC_LABELS[name], data: [], borderColor: COLORS.line, tension: 0 }] },
        options: {
          animation: false,
          responsive: true,
          maintainAspectRatio: false,
          scales: {
            y: { suggestedMin: 0.5, suggestedMax: 1, ticks: { precision: 2 } },
            x: { title: { display: false } },
          },
          plugins: {
            tooltip: {
              callbacks: {
                label: (item) => {
                  const model = (item.chart.data as { models?: ModelVersion[] }).models?.[item.dataIndex];
                  const suffix = model ? ` (${model.status.toLowerCase()})` : "";
                  return `${METRIC_LABELS[name]} ${Number(item.raw).toFixed(3)}${suffix}`;
                },
              },
            },
          },
        },
      };
      entry = { chart: new Chart(canvas, config), figure, canvas };
      charts.set(name, entry);
    }
    const { chart, figure, canvas } = entry;
    const dataset = chart.data.datasets[0];
    chart.data.labels = points.map((model) => `v${model.version}`);
    (chart.data as { models?: ModelVersion[] }).models = points;
    dataset.data = points.map((model) => model.metrics[name] ?? null) as number[];
    const style = (model: ModelVersion): PointStyle =>
      model.version === champion ? "star" : isRejected(model) ? "crossRot" : "circle";
    const styles = points.map(style);
    dataset.pointStyle = styles;
    dataset.pointRadius = points.map((model) => (model.version === champion ? 10 : 5));
    dataset.pointHoverRadius = points.map((model) => (model.version === champion ? 12 : 7));
    dataset.pointBorderWidth = points.map((model) => (model.version === champion ? 3 : 2));
    const color = points.map((model) =>
      model.version === champion ? COLORS.champion : isRejected(model) ? COLORS.rejected : COLORS.point,
    );
    dataset.pointBackgroundColor = color;
    dataset.pointBorderColor = color;
    chart.update("none");
    // What the canvas shows, for screen readers and tests.
    figure.dataset.versions = points.map((model) => model.version).join(",");
    figure.dataset.champion = champion === null ? "" : String(champion);
    figure.dataset.pointStyles = styles.join(",");
    canvas.setAttribute(
      "aria-label",
      `${METRIC_LABELS[name]} by version: ` +
        points
          .map(
            (model) =>
              `v${model.version} ${model.metrics[name]?.toFixed(3) ?? "n/a"}${model.version === champion ? " (champion)" : ""}`,
          )
          .join(", "),
    );
  }
}
