// One Chart.js chart per metric. Three series, so the history tells the truth:
//  - champions' history: the versions that were live, joined by a line (the current champion is a large star);
//  - rejected or failed challengers: crosses, never joined to the champions' line;
//  - other versions (staged, approved, deploying): open circles.
// The y-range hugs the data (with a margin), so the differences that decided a promotion are visible.
// Figures come from the dataset's trusted evaluation set when versions were scored on it (issue 19): every version
// on the same rows, so a model that won on them is drawn above the one it beat. Each version's own hold-out is
// other rows; those figures are drawn only when no version has trusted-set figures, and are labelled so.
// Colours have at least 3:1 contrast against the white card (WCAG 1.4.11 for graphical objects).
import {
  Chart,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
  type ChartDataset,
  type PointStyle,
  type TooltipItem,
} from "chart.js";
import { h } from "./dom";
import { metricLabel, type ModelVersion } from "./types";

Chart.register(LineController, LineElement, PointElement, LinearScale, Tooltip);

// Contrast against #ffffff: amber 4.6:1, blue 5.3:1, slate 5.9:1.
export const COLORS = { champion: "#a05a00", history: "#a05a00", candidate: "#1f6fb2", rejected: "#4a5663" };

export type Axis = "version" | "time";

type Point = { x: number; y: number; model: ModelVersion };

const charts = new Map<string, { chart: Chart<"line", Point[]>; figure: HTMLElement; canvas: HTMLCanvasElement }>();

export function wasLive(model: ModelVersion): boolean {
  return model.was_live ?? (model.status === "LIVE" || model.status === "RETIRED");
}

export function isRejected(model: ModelVersion): boolean {
  return model.status === "REJECTED" || model.status === "FAILED";
}

function pointStyle(model: ModelVersion, champion: number | null): PointStyle {
  if (model.version === champion) return "star";
  if (isRejected(model) && !wasLive(model)) return "crossRot";
  return wasLive(model) ? "rectRot" : "circle";
}

/** The metrics any version reports, in the order the first version lists them. */
export function metricNames(models: ModelVersion[]): string[] {
  const names: string[] = [];
  for (const model of [...models].sort((a, b) => a.version - b.version)) {
    for (const name of Object.keys(model.metrics ?? {})) if (!names.includes(name)) names.push(name);
  }
  return names;
}

/** The newest trusted-set version any model was scored on (null: none was: own hold-out figures only). */
export function trustedSetVersion(models: ModelVersion[]): number | null {
  const versions = models.map((model) => model.trusted?.set_version ?? null).filter((v): v is number => v !== null);
  return versions.length ? Math.max(...versions) : null;
}

/** A version's figure for `name` on the chart's basis: the trusted set `set`, or (set null) its own hold-out. */
export function figureOf(model: ModelVersion, name: string, set: number | null): number | null {
  const value = set === null ? model.metrics?.[name] : model.trusted?.set_version === set ? model.trusted.metrics?.[name] : null;
  return typeof value === "number" ? value : null;
}

// The basis of the charts as last drawn (tooltips are built once per chart and read it when shown).
let chartBasis: number | null = null;

function basisLabel(set: number | null): string {
  return set === null ? "each on its own hold-out: not the same rows" : `on the trusted evaluation set v${set}`;
}

function yRange(values: number[]): { min: number; max: number; step: number } {
  const low = Math.min(...values);
  const high = Math.max(...values);
  const margin = Math.max((high - low) * 0.2, Math.abs(high) * 0.01, 0.005);
  let min = low - margin;
  let max = high + margin;
  if (low >= 0 && high <= 1) {
    min = Math.max(0, min);
    max = Math.min(1, max);
  }
  // Bounds on a round step: every tick (the ends included) is one step from the next, so labels never collide.
  const step = niceStep((max - min) / 4);
  min = Math.floor(min / step + 1e-9) * step;
  max = Math.ceil(max / step - 1e-9) * step;
  return { min, max, step };
}

/** 1, 2, 2.5 or 5 times a power of ten: the step of an axis a person reads at a glance. */
function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 2.5 ? 2.5 : fraction <= 5 ? 5 : 10) * power;
}

function xValue(model: ModelVersion, axis: Axis): number {
  return axis === "time" ? new Date(model.created_at).getTime() : model.version;
}

function label(model: ModelVersion, champion: number | null): string {
  if (model.version === champion) return "champion";
  if (isRejected(model) && !wasLive(model)) return model.status === "FAILED" ? "failed" : "rejected";
  if (wasLive(model)) return "was champion";
  return model.status.toLowerCase();
}

export function renderCharts(
  container: HTMLElement,
  models: ModelVersion[],
  champion: number | null,
  axis: Axis,
  primary: string | null,
): void {
  const points = models
    .filter((model) => Object.keys(model.metrics ?? {}).length > 0)
    .sort((a, b) => a.version - b.version);
  const names = metricNames(points);
  const set = trustedSetVersion(points);
  chartBasis = set;
  if (primary && names.includes(primary)) names.splice(names.indexOf(primary), 1), names.unshift(primary);
  for (const [name, entry] of charts) {
    if (!names.includes(name)) {
      entry.chart.destroy();
      entry.figure.remove();
      charts.delete(name);
    }
  }
  for (const name of names) {
    let entry = charts.get(name);
    if (!entry) {
      const canvas = h("canvas", { role: "img", "data-testid": `chart-canvas-${name}` });
      const figure = h(
        "figure",
        { class: "chart", "data-testid": `chart-${name}` },
        h(
          "figcaption",
          {},
          metricLabel(name),
          name === primary ? h("small", {}, " (primary metric)") : null,
          h("small", { "data-testid": `chart-basis-${name}` }, ` — ${basisLabel(set)}`),
        ),
        h("div", { class: "chart-box" }, canvas),
      );
      const tooltip = (item: TooltipItem<"line">): string => {
        const point = item.raw as Point;
        return `v${point.model.version} ${metricLabel(name)} ${point.y.toFixed(3)} (${label(point.model, champion)}, ${basisLabel(chartBasis)})`;
      };
      const config: ChartConfiguration<"line", Point[]> = {
        type: "line",
        data: { datasets: [] },
        options: {
          animation: false,
          responsive: true,
          maintainAspectRatio: false,
          parsing: false,
          scales: {
            x: { type: "linear", title: { display: true, text: "model version" }, ticks: {} },
            // Round, evenly spaced labels (yRange picks the step), 3 decimals: they never overlap or repeat.
            y: {
              title: { display: true, text: metricLabel(name) },
              ticks: { maxTicksLimit: 8, callback: (value: number | string) => Number(value).toFixed(3) },
            },
          },
          plugins: { tooltip: { callbacks: { label: tooltip } } },
        },
      };
      entry = { chart: new Chart(canvas, config), figure, canvas };
      charts.set(name, entry);
    }
    container.append(entry.figure); // keeps the primary metric first
    const { chart, figure, canvas } = entry;
    const caption = figure.querySelector(`[data-testid="chart-basis-${name}"]`);
    if (caption) caption.textContent = ` — ${basisLabel(set)}`;
    const withValue = points.filter((model) => figureOf(model, name, set) !== null);
    const y = (model: ModelVersion): number => figureOf(model, name, set) as number;
    const toPoint = (model: ModelVersion): Point => ({ x: xValue(model, axis), y: y(model), model });
    // In the order versions went live; a rollback to an earlier champion draws the line back to it.
    const history = withValue.filter(wasLive).map(toPoint);
    const newestLive = history.at(-1)?.model.version;
    const back = history.find((point) => point.model.version === champion);
    if (back && newestLive !== undefined && champion !== null && champion < newestLive) history.push({ ...back });
    const rejected = withValue.filter((model) => isRejected(model) && !wasLive(model)).map(toPoint);
    const others = withValue.filter((model) => !wasLive(model) && !isRejected(model)).map(toPoint);
    const series = (
      title: string,
      data: Point[],
      color: string,
      line: boolean,
    ): ChartDataset<"line", Point[]> => ({
      label: title,
      data,
      showLine: line,
      borderColor: color,
      backgroundColor: color,
      pointBorderColor: color,
      pointBackgroundColor: data.map((point) => (point.model.version === champion ? color : "#ffffff")),
      pointStyle: data.map((point) => pointStyle(point.model, champion)),
      pointRadius: data.map((point) => (point.model.version === champion ? 11 : 6)),
      pointHoverRadius: data.map((point) => (point.model.version === champion ? 13 : 8)),
      pointBorderWidth: 2,
      borderWidth: 2,
      tension: 0,
    });
    chart.data.datasets = [
      series("champions' history", history, COLORS.history, true),
      series("other versions", others, COLORS.candidate, false),
      series("rejected or failed challengers", rejected, COLORS.rejected, false),
    ];
    const values = withValue.map(y);
    const xs = withValue.map((model) => xValue(model, axis));
    const { min, max, step } = values.length ? yRange(values) : { min: 0, max: 1, step: 0.25 };
    const scales = chart.options.scales as Record<string, Record<string, unknown>>;
    Object.assign(scales.y, { min, max });
    Object.assign(scales.y.ticks as Record<string, unknown>, { stepSize: step });
    const span = xs.length ? Math.max(...xs) - Math.min(...xs) : 0;
    const pad = axis === "version" ? 0.5 : Math.max(span * 0.05, 60_000);
    Object.assign(scales.x, {
      min: xs.length ? Math.min(...xs) - pad : undefined,
      max: xs.length ? Math.max(...xs) + pad : undefined,
      title: { display: true, text: axis === "version" ? "model version" : "training time (your time zone)" },
      // By version: one tick per version on screen (Chart.js would otherwise start at the padded minimum).
      afterBuildTicks:
        axis === "version"
          ? (scale: { ticks: { value: number }[] }) => {
              scale.ticks = [...new Set(xs)].map((value) => ({ value }));
            }
          : undefined,
      ticks:
        axis === "version"
          ? { autoSkip: false, callback: (value: number | string) => `v${value}` }
          : {
              maxTicksLimit: 4,
              // Local time, as the tables show it (dom.formatTime).
              callback: (value: number | string) =>
                new Date(Number(value)).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }),
            },
    });
    chart.update("none");
    // What the canvas shows, for screen readers and tests.
    const styles = withValue.map((model) => pointStyle(model, champion));
    figure.dataset.versions = withValue.map((model) => model.version).join(",");
    figure.dataset.history = history.map((point) => point.model.version).join(",");
    figure.dataset.xTicks = chart.scales.x.ticks.map((tick) => String(tick.label)).join("|");
    figure.dataset.yTicks = chart.scales.y.ticks.map((tick) => String(tick.label)).join("|");
    figure.dataset.champion = champion === null ? "" : String(champion);
    figure.dataset.pointStyles = styles.join(",");
    figure.dataset.yMin = min.toFixed(4);
    figure.dataset.yMax = max.toFixed(4);
    figure.dataset.basis = set === null ? "own-holdout" : `trusted-v${set}`;
    canvas.setAttribute(
      "aria-label",
      `${metricLabel(name)} by ${axis === "version" ? "version" : "training time"}: ` +
        withValue.map((model) => `v${model.version} ${y(model).toFixed(3)} (${label(model, champion)})`).join(", ") +
        ` (${basisLabel(set)})`,
    );
  }
}
