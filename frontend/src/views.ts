// What the page shows, as element trees that dom.patch() morphs into place (nothing here fetches).
import { metricNames, wasLive } from "./charts";
import { $, duration, formatTime, h, metric, patch, show } from "./dom";
import type { State, Ui } from "./main";
import { link } from "./route";
import {
  metricLabel,
  type Approval,
  type AuditEntry,
  type BatchJob,
  type Config,
  type ModelVersion,
  type PairedComparison,
  type Run,
  type RunCost,
  type RunDetail,
  type Step,
  type Verdict,
} from "./types";

export interface View {
  state: State;
  ui: Ui;
  config: Config;
}

type Node_ = HTMLElement | string | null;

export function renderAll(view: View): void {
  const { state, ui } = view;
  const live = state.health?.champion_version ?? null;
  directions = state.health?.policy?.directions ?? {};
  $("champion").textContent = state.health === null ? "Loading…" : live === null ? "No model live" : `Champion: v${live}`;
  renderEndpoint(view);
  document.title = titleOf(view);
  renderBanners(view);
  const overview = ui.route.view === "overview";
  show($("overview"), overview);
  show($("detail"), !overview);
  show($("crumbs"), !overview);
  if (!overview) {
    patch($("crumbs"), h("a", { href: link.overview(), "data-testid": "back" }, "← Overview"));
    patch($("detail"), ...detailView(view));
    return;
  }
  renderLive(view);
  renderApprovals(view);
  show($("empty-models"), state.models.length === 0);
  patch($("models"), modelsTable(view));
  patch($("compare-picker"), comparePicker(view));
  show($("empty-runs"), state.runs.length === 0);
  patch($("runs"), ...state.runs.map((run, index) => runItem(view, run, index)));
  patch($("runs-more"), loadMoreButton(state.more.runs, "runs", "older runs"));
  renderPolicy(view);
  renderServing(view);
  renderOutbox(view);
}

/** The tab's title: the page, and how many challengers wait for a person (seen from another tab). */
export function titleOf({ state, ui }: View): string {
  const route = ui.route;
  const page =
    route.view === "version" ? `v${route.version}` :
    route.view === "run" ? `Run ${route.id}` :
    route.view === "compare" ? `v${route.a} vs v${route.b}` :
    route.view === "activity" ? "Activity" :
    route.view === "monitoring" ? "Monitoring" :
    route.view === "batch" ? "Batch jobs" : "Overview";
  const waiting = state.approvals.length ? `(${state.approvals.length} pending) ` : "";
  return `${waiting}${page} · Challenger`;
}

/** The endpoint as SageMaker describes it (GET /health): the header turns red when it cannot serve. */
function renderEndpoint({ state }: View): void {
  const element = $("endpoint-state");
  const endpoint = state.health?.endpoint ?? null;
  const degraded = state.health?.status === "degraded";
  document.querySelector(".topbar")?.classList.toggle("degraded", degraded);
  $("topbar").dataset.health = state.health === null ? "loading" : degraded ? "degraded" : "ok";
  const pending = state.approvals.length;
  const count = $("pending-count");
  count.textContent = pending ? `${pending} waiting for approval` : "";
  show(count, pending > 0);
  show(element, endpoint !== null);
  if (!endpoint) return;
  element.dataset.status = endpoint.status;
  element.textContent =
    endpoint.status === "InService"
      ? "Endpoint InService"
      : `Endpoint ${endpoint.status}${endpoint.reason && degraded ? `: ${endpoint.reason}` : ""}`;
}

// What is live, and is it OK ---------------------------------------------------------------------------
/** How the champion got there: the newest decision that put it live (approve, deploy, rollback), if recorded. */
function howItWentLive(entries: AuditEntry[] | null | undefined): HTMLElement | string {
  const entry = [...(entries ?? [])]
    .filter((item) => ["approve", "rollback", "deploy"].includes(item.action))
    .sort((a, b) => b.at.localeCompare(a.at))[0];
  if (!entry) return entries ? "promoted by the policy (no human decision recorded)" : "not recorded (operators see the decisions)";
  const verb = entry.action === "approve" ? "approved" : entry.action === "rollback" ? "rolled back to" : "deployed against the verdict";
  return h("span", { "data-testid": "live-how" }, `${verb} by ${entry.actor}`, entry.comment ? [" ", h("q", {}, entry.comment)] : null);
}

function renderLive(view: View): void {
  const { state } = view;
  const body = $("live-body");
  if (state.health === null) return;
  const live = state.health.champion_version;
  const section = $("live");
  if (live === null) {
    section.dataset.state = "none";
    patch(body, h("p", { class: "muted", "data-key": "none" }, "No model is live yet."));
    return;
  }
  const model = state.models.find((candidate) => candidate.version === live);
  const record = state.versions.get(live);
  const endpoint = state.health.endpoint ?? null;
  const serving = state.recent?.versions.find((row) => row.version === live) ?? null;
  const drift = (state.monitoring?.drift ?? []).find((report) => report.version === live) ?? null;
  const psi = drift?.drifts?.length ? Math.max(...drift.drifts.map((item) => item.psi)) : null;
  const endpointBad = state.health.status === "degraded";
  const errorsBad = serving !== null && serving.invocations > 0 && serving.error_rate > 0.01;
  const latencyBad = serving !== null && typeof serving.p99_ms === "number" && serving.p99_ms > 3000;
  const driftBad = psi !== null && drift !== null && psi > drift.threshold;
  section.dataset.state = endpointBad || errorsBad || latencyBad || driftBad ? "bad" : "ok";
  const fact = (testid: string, bad: boolean, label: string, value: Node_ ): HTMLElement =>
    h("div", { class: `live-fact ${bad ? "bad" : "good"}`, "data-testid": testid, "data-bad": String(bad), "data-key": testid },
      h("span", { class: "live-label" }, label), h("strong", {}, bad ? "⚠ " : "", value ?? "—"));
  patch(
    body,
    h(
      "div",
      { class: "live-grid", "data-key": "live-grid" },
      fact("live-champion", false, "Champion", h("span", {}, versionLink(live), model?.live_since ? ` since ${formatTime(model.live_since)}` : "")),
      fact("live-how-fact", false, "How", howItWentLive(record?.audit)),
      fact("live-endpoint", endpointBad, "Endpoint", endpoint ? `${endpoint.status}${endpointBad && endpoint.reason ? `: ${endpoint.reason}` : ""}` : "—"),
      fact("live-errors", errorsBad, "Errors (last 15 min)", serving ? `${(serving.error_rate * 100).toFixed(1)}% of ${serving.invocations}` : "no requests"),
      fact("live-p99", latencyBad, "p99 (last 15 min)", serving ? ms(serving.p99_ms) : "—"),
      fact("live-drift", driftBad, "Drift", drift ? (drift.skipped ? drift.skipped : psi === null ? "—" : `PSI ${psi.toFixed(2)} (threshold ${drift.threshold})`) : "not checked yet"),
    ),
  );
}

// Banners ------------------------------------------------------------------------------------------
function renderBanners({ ui }: View): void {
  const deploying = $("deploying");
  deploying.textContent = ui.rollback
    ? `Deploying v${ui.rollback.version} again: blue/green swap and smoke test in progress… ` +
      "Other rollbacks wait until this one ends."
    : "";
  show(deploying, ui.rollback !== null);
  $("rollback-failed-text").textContent = ui.rollbackFailure ?? "";
  show($("rollback-failed"), ui.rollbackFailure !== null);
}

// Shared bits --------------------------------------------------------------------------------------
/** A table's sideways scroller: a named region a keyboard can focus (and so scroll), as WCAG 2.1.1 asks. */
export function scroller(label: string): Record<string, string | number> {
  return { class: "table-wrap", tabindex: 0, role: "region", "aria-label": label };
}

/** A heading that route changes and decisions move focus to (it stays focusable across polls). */
function pageTitle(text: string | (HTMLElement | string | null)[], extra: Record<string, string> = {}): HTMLElement {
  return h("h2", { "data-testid": "detail-title", tabindex: -1, ...extra }, ...(Array.isArray(text) ? text : [text]));
}
function badge(status: string, testid = "status"): HTMLElement {
  return h("span", { class: `badge ${status.toLowerCase()}`, "data-testid": testid }, status);
}

function versionLink(version: number, text = `v${version}`): HTMLElement {
  return h("a", { href: link.version(version), "data-testid": "version-link" }, text);
}

function short(text: string | null | undefined, size = 12): string {
  return text ? (text.length > size ? `${text.slice(0, size)}…` : text) : "—";
}

function seconds(value: number | null | undefined): string {
  if (typeof value !== "number") return "—";
  return value < 90 ? `${value}s` : `${Math.floor(value / 60)}m ${value % 60}s`;
}

function signed(value: number, digits = 3): string {
  return `${value > 0 ? "+" : value < 0 ? "−" : "±"}${Math.abs(value).toFixed(digits)}`;
}

function interval(low: number, high: number): string {
  return `[${signed(low)}, ${signed(high)}]`;
}

/** A definition list: one row per fact, "not recorded" where the API has not provided it (yet). */
function facts(rows: [string, Node_ | number | undefined][], testid?: string): HTMLElement {
  return h(
    "dl",
    { class: "facts", "data-testid": testid },
    rows.flatMap(([name, value]) => [
      h("dt", {}, name),
      h("dd", {}, value === null || value === undefined || value === "" ? h("span", { class: "muted" }, "not recorded") : value),
    ]),
  );
}

/** A price as challenger_core.cost.usd writes it: four decimals under a dollar, two above. */
function usd(amount: number | null | undefined): string {
  if (amount === null || amount === undefined) return "unknown";
  if (amount > 0 && amount < 0.00005) return "<$0.0001";
  return amount < 1 ? `$${amount.toFixed(4)}` : `$${amount.toFixed(2)}`;
}

function costCard(cost: RunCost | null | undefined, testid: string, title: string): HTMLElement {
  if (!cost) return h("section", { class: "card", "data-testid": testid }, h("h3", {}, title), h("p", { class: "muted" }, "Not recorded yet."));
  const training =
    cost.training_usd === null || cost.training_usd === undefined
      ? `${cost.instance_type} is not in the price table`
      : cost.instance_type
        ? `${usd(cost.training_usd)} (${cost.billable_seconds ?? 0} billable s on ${cost.instance_type}${cost.spot ? ", spot" : ""})`
        : usd(cost.training_usd);
  return h(
    "section",
    { class: "card", "data-testid": testid },
    h("h3", {}, title),
    facts([
      ["Total", h("strong", { "data-testid": `${testid}-total` }, usd(cost.total_usd))],
      ["Training", training],
      ["Lambda", `${usd(cost.lambda_usd)} (${cost.lambda_invocations} invocations, ${cost.lambda_gb_seconds} GB-s)`],
      ["Step Functions", `${usd(cost.step_functions_usd)} (${cost.state_transitions} state transitions)`],
    ]),
    h(
      "p",
      { class: "muted" },
      `${cost.priced_region} list prices of ${cost.prices_as_of}${cost.region ? ` (this stack runs in ${cost.region})` : ""}; see docs/cost.md.`,
    ),
  );
}

function canRollBack(model: ModelVersion, live: number | null): boolean {
  return live !== null && model.version !== live && wasLive(model) && model.status !== "FAILED" &&
    Boolean(model.model_data_url ?? true);
}

function rollbackButton(view: View, model: ModelVersion): HTMLElement | null {
  const live = view.state.health?.champion_version ?? null;
  if (!canRollBack(model, live)) return null;
  const busy = view.ui.rollback !== null || view.state.models.some((other) => other.status === "DEPLOYING");
  const forward = live !== null && model.version > live;
  return h(
    "button",
    {
      type: "button",
      class: "secondary",
      "data-action": "rollback",
      "data-version": model.version,
      "data-testid": `rollback-${model.version}`,
      "data-key": `rollback-${model.version}`,
      disabled: busy,
      title: busy ? "A deployment is in progress" : null,
    },
    forward ? `Deploy v${model.version} again` : `Roll back to v${model.version}`,
  );
}

/** "Load more" under a paginated list, while the API says there is a next page. */
function loadMoreButton(cursor: string | null, list: "models" | "runs" | "batch", what: string): HTMLElement | null {
  if (!cursor) return null;
  return h("button", { type: "button", class: "secondary load-more", "data-action": "load-more", "data-list": list, "data-testid": `more-${list}`, "data-key": `more-${list}` }, `Load more ${what}`);
}

// Overview: models ---------------------------------------------------------------------------------
function modelsTable(view: View): HTMLElement {
  const { state } = view;
  const live = state.health?.champion_version ?? null;
  if (state.models.length === 0) return h("p", { class: "empty", "data-key": "no-models" }, "No model versions yet.");
  const names = metricNames(state.models);
  const rows = state.models.map((model) =>
    h(
      "tr",
      { "data-testid": "model-row", "data-version": model.version, "data-status": model.status, "data-key": `model-${model.version}` },
      h(
        "th",
        { scope: "row", "data-label": "Version" },
        versionLink(model.version),
        model.version === live ? h("span", { class: "star", title: "champion" }, " ★") : null,
      ),
      h("td", { "data-label": "Status" }, badge(model.status)),
      names.map((name) => h("td", { class: "num", "data-label": metricLabel(name) }, metric(model.metrics?.[name]))),
      h("td", { "data-label": "Dataset" }, model.dataset),
      h("td", { "data-label": "Created" }, formatTime(model.created_at)),
      h(
        "td",
        { class: "actions-cell", "data-label": "" },
        model.failure_reason ? h("span", { class: "error-text reason" }, model.failure_reason) : null,
        rollbackButton(view, model),
      ),
    ),
  );
  return h(
    "div",
    { ...scroller("Model versions"), "data-key": "models-table" },
    h(
      "table",
      { class: "stack" },
      h("caption", { class: "visually-hidden" }, "Model versions, newest first"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Version"),
          h("th", { scope: "col" }, "Status"),
          names.map((name) => h("th", { scope: "col", class: "num" }, metricLabel(name))),
          h("th", { scope: "col" }, "Dataset"),
          h("th", { scope: "col" }, "Created"),
          h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
        ),
      ),
      h("tbody", {}, rows),
    ),
    loadMoreButton(state.more.models, "models", "older versions"),
  );
}

function comparePicker({ state, ui }: View): HTMLElement | null {
  if (state.models.length < 2) return null;
  const live = state.health?.champion_version ?? null;
  const a = ui.compare.a ?? state.models[0].version;
  const b = ui.compare.b ?? (live !== null && live !== a ? live : state.models[1].version);
  ui.compare = { a, b };
  const select = (id: string, action: string, value: number, text: string): HTMLElement[] => [
    h("label", { for: id }, text),
    h(
      "select",
      { id, "data-action": action, "data-testid": id },
      state.models.map((model) =>
        h("option", { value: model.version, selected: model.version === value }, `v${model.version} (${model.status.toLowerCase()})`),
      ),
    ),
  ];
  return h(
    "div",
    { class: "compare-picker", "data-key": "compare-picker" },
    select("compare-a", "compare-a", a, "Compare"),
    select("compare-b", "compare-b", b, "with"),
    h("button", { type: "button", class: "secondary", "data-action": "compare", "data-testid": "compare-open" }, "Side by side"),
  );
}

// Overview: runs -----------------------------------------------------------------------------------
interface StepLine {
  name: string;
  status: Step["status"] | "pending";
  count: number;
  ms: number;
  entered_at?: string | null;
}

/** Loops enter the same states many times: one line per state, with how often and how long in total. */
export function stepLines(detail: RunDetail): StepLine[] {
  const out: StepLine[] = [];
  const index = new Map<string, number>();
  for (const step of detail.steps) {
    if (step.name.endsWith("?")) continue; // a Choice: the next line already says where it went
    const start = step.entered_at ? Date.parse(step.entered_at) : NaN;
    const end = step.exited_at ? Date.parse(step.exited_at) : step.status === "entered" ? Date.now() : NaN;
    const ms = Number.isFinite(start) && Number.isFinite(end) ? Math.max(0, end - start) : 0;
    const at = index.get(step.name);
    if (at === undefined) {
      index.set(step.name, out.length);
      out.push({ name: step.name, status: step.status, count: 1, ms, entered_at: step.entered_at });
    } else {
      out[at].status = step.status;
      out[at].count += 1;
      out[at].ms += ms;
    }
  }
  if (detail.run.status === "RUNNING") {
    for (const name of detail.plan ?? []) {
      if (!index.has(name) && !name.endsWith("?")) out.push({ name, status: "pending", count: 0, ms: 0 });
    }
  }
  return out;
}

export function humanize(name: string): string {
  const words = name.replace(/\?$/, "").replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function stepIcon(status: StepLine["status"]): string {
  return status === "succeeded" ? "✓" : status === "failed" ? "✕" : status === "pending" ? "○" : "…";
}

function stepList(detail: RunDetail): HTMLElement {
  const lines = stepLines(detail);
  return h(
    "ol",
    { class: "steps", "data-testid": "steps" },
    lines.map((step) =>
      h(
        "li",
        { class: `step ${step.status}`, "data-testid": "step", "data-step": step.name, "data-status": step.status, "data-key": `step-${step.name}` },
        h("span", { class: "step-icon", "aria-hidden": "true" }, stepIcon(step.status)),
        humanize(step.name),
        step.count > 1 ? h("small", {}, ` · ${step.count}×`) : null,
        step.ms >= 1000 ? h("small", { "data-testid": "step-duration" }, ` · ${seconds(Math.round(step.ms / 1000))}`) : null,
        h("span", { class: "visually-hidden" }, ` (${step.status === "entered" ? "running" : step.status})`),
      ),
    ),
  );
}

/** The shadow stage (issue 23): what the challenger did on real requests before the swap, beside the champion. */
function shadowSection(given: Verdict | null | undefined): HTMLElement | null {
  const measured = given?.shadow;
  if (!measured && !given?.shadow_note) return null;
  const ms = (value: number | null | undefined) => (value === null || value === undefined ? "–" : `${Math.round(value)} ms`);
  const kinds = Object.entries(measured?.shadow_errors_by_kind ?? {}).map(([kind, count]) => `${kind} ${count}`).join(", ");
  const worst = (measured?.disagreement ?? []).filter((row) => row.disagreed > 0).sort((a, b) => b.disagreed - a.disagreed).slice(0, 5);
  return h(
    "section",
    { class: "card", "data-testid": "shadow" },
    h("h3", {}, "Shadow stage"),
    given?.shadow_note ? h("p", { class: "muted", "data-testid": "shadow-note" }, given.shadow_note) : null,
    measured
      ? h(
          "ul",
          { "data-testid": "shadow-numbers" },
          h("li", {}, `${measured.requests} requests: the challenger failed ${measured.shadow_errors}${kinds ? ` (${kinds})` : ""}, the champion ${measured.champion_errors}`),
          measured.latency_pairs ? h("li", {}, `Latency on ${measured.latency_pairs} requests: p50 ${ms(measured.shadow_p50_ms)} vs ${ms(measured.champion_p50_ms)}, p99 ${ms(measured.shadow_p99_ms)} vs ${ms(measured.champion_p99_ms)} (challenger vs champion)`) : null,
          measured.compared ? h("li", {}, `Agreed with the champion on ${measured.agreed} of ${measured.compared} (${((100 * measured.agreed) / measured.compared).toFixed(1)}%)`) : null,
          ...worst.map((row) => h("li", { class: "muted" }, `Disagreed ${row.disagreed}/${row.requests} where ${row.slice} = ${row.value}`)),
        )
      : null,
  );
}

/** The verdict, rule by rule: structured rules when the API has them, else the recorded reason's parts. */
function verdict(model: ModelVersion | undefined, fallback: string | null | undefined, given?: Verdict | null): HTMLElement | null {
  const rules = (given ?? model?.verdict)?.rules;
  if (rules?.length) {
    return h(
      "ul",
      { class: "rules", "data-testid": "rules" },
      rules.map((rule) =>
        h(
          "li",
          { class: rule.passed ? "pass" : "fail", "data-testid": "rule", "data-passed": String(rule.passed) },
          h("strong", {}, rule.passed ? "✓ pass " : "✕ fail "),
          `${rule.rule}${rule.metric ? ` ${metricLabel(rule.metric)}` : ""}: ${rule.detail}`,
        ),
      ),
    );
  }
  const reason = fallback ?? model?.failure_reason;
  if (!reason) return null;
  const parts = reason.split(/;\s+|\n/).filter(Boolean);
  return h(
    "ul",
    { class: "rules", "data-testid": "rules" },
    parts.map((part) => {
      // The policy's sentences: "primary f1: FAIL — …" / "pass — …" (rule by rule), or the older wording.
      const failed = /\bFAIL\b|is below|regressed|not better|did not|refused|missing|cannot/.test(part);
      const passed = !failed && /\bpass\b|meets|: better|wins|alone decides/.test(part);
      return h(
        "li",
        { class: passed ? "pass" : failed ? "fail" : "", "data-testid": "rule", "data-passed": passed ? "true" : failed ? "false" : "" },
        h("strong", {}, passed ? "✓ " : failed ? "✕ " : "• "),
        part,
      );
    }),
  );
}

function runItem(view: View, run: Run, position: number): HTMLElement {
  const { state, ui } = view;
  const detail = state.details.get(run.run_id);
  const gone = state.gone.get(run.run_id);
  const open =
    !ui.closedRuns.has(run.run_id) && (run.status === "RUNNING" || ui.openRuns.has(run.run_id) || position === 0);
  const model = run.version ? state.models.find((candidate) => candidate.version === run.version) : undefined;
  const rejected = run.outcome === "REJECTED" || model?.status === "REJECTED";
  return h(
    "li",
    { class: `run ${run.status.toLowerCase()}`, "data-testid": "run", "data-run-id": run.run_id, "data-status": run.status, "data-key": `run-${run.run_id}` },
    h(
      "div",
      { class: "run-head" },
      badge(run.status),
      run.outcome && run.outcome !== run.status ? h("span", { class: `badge outcome ${run.outcome.toLowerCase()}`, "data-testid": "outcome" }, run.outcome) : null,
      h("a", { class: "run-id", href: link.run(run.run_id), "data-testid": "run-link" }, run.run_id),
      h("span", { class: "muted" }, `${run.dataset} · ${run.trigger}`),
      run.version ? h("span", { "data-testid": "run-version" }, versionLink(run.version)) : null,
      h("span", { class: "muted" }, `${formatTime(run.started_at)} · ${duration(run.started_at, run.ended_at)}`),
      run.cost ? h("span", { class: "muted", "data-testid": "run-cost", title: "what the run cost on AWS (us-east-1 list prices)" }, usd(run.cost.total_usd)) : null,
    ),
    run.error && !rejected ? h("p", { class: "error-text", "data-testid": "run-error" }, run.error) : null,
    rejected ? verdict(model, run.error ?? model?.failure_reason) : null,
    h(
      "details",
      { open, "data-run": run.run_id },
      h("summary", { "data-run": run.run_id }, detail ? `Steps (${stepLines(detail).length})` : "Steps"),
      gone
        ? h("p", { class: "muted", "data-testid": "history-gone" }, `Steps not available: ${gone}.`)
        : detail
          ? stepList(detail)
          : h("p", { class: "muted" }, "Loading…"),
    ),
  );
}

// Overview: approvals --------------------------------------------------------------------------------
function renderApprovals(view: View): void {
  const { state } = view;
  const body = $("approval-body");
  if (state.health === null) {
    patch(body, h("p", { class: "muted", "data-testid": "approvals-loading", "data-key": "loading" }, "Loading…"));
    return;
  }
  if (state.approvals.length === 0) {
    patch(body, h("p", { class: "empty", "data-testid": "no-approvals", "data-key": "no-approvals" }, "Nothing is waiting for approval."));
    return;
  }
  patch(body, ...state.approvals.map((approval) => approvalCard(view, approval)));
}

let directions: Record<string, string> = {};

function comparisonRows(
  challenger: ModelVersion | undefined,
  champion: ModelVersion | undefined,
  names: string[],
  judged?: Verdict | null,
): HTMLElement[] {
  const paired = challenger?.comparison ?? null;
  const verdictOf = judged ?? challenger?.verdict ?? null;
  return names.map((name) => {
    const judgedMetric = verdictOf?.comparisons?.find((item) => item.name === name);
    const mine = paired?.challenger_metrics?.[name] ?? judgedMetric?.challenger ?? challenger?.metrics?.[name];
    const theirs = paired?.champion_metrics?.[name] ?? judgedMetric?.champion ?? champion?.metrics?.[name];
    const difference =
      paired?.differences?.[name] ??
      (typeof judgedMetric?.low === "number" && typeof judgedMetric?.high === "number" && typeof judgedMetric?.delta === "number"
        ? { delta: judgedMetric.delta, low: judgedMetric.low, high: judgedMetric.high }
        : undefined);
    const raw = difference?.delta ?? (typeof mine === "number" && typeof theirs === "number" ? mine - theirs : null);
    // Coloured by what is better for this metric: a lower RMSE is an improvement.
    const lowerIsBetter = (judgedMetric?.direction ?? directions[name]) === "lower";
    const delta = raw === null ? null : lowerIsBetter ? -raw : raw;
    return h(
      "tr",
      { "data-testid": `compare-${name}`, "data-key": `compare-${name}` },
      h("th", { scope: "row" }, metricLabel(name)),
      h("td", { class: "num", "data-testid": "challenger-value" }, metric(mine)),
      h("td", { class: "num", "data-testid": "champion-value" }, champion || paired ? metric(theirs) : "—"),
      h(
        "td",
        { class: `num ${delta === null ? "" : delta > 0 ? "better" : delta < 0 ? "worse" : ""}`, "data-testid": "delta" },
        raw === null || delta === null ? "" : `${delta > 0 ? "▲ " : delta < 0 ? "▼ " : ""}${signed(raw)}`,
        difference ? h("small", { class: "ci", "data-testid": "ci" }, ` ${interval(difference.low, difference.high)}`) : null,
      ),
    );
  });
}

function comparisonTable(caption: string, left: string, right: string, rows: HTMLElement[], confidence?: number): HTMLElement {
  return h(
    "div",
    scroller(caption),
    h(
      "table",
      { class: "compare stack", "data-testid": "compare" },
      h("caption", { class: "visually-hidden" }, caption),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Metric"),
          h("th", { scope: "col", class: "num" }, left),
          h("th", { scope: "col", class: "num" }, right),
          h("th", { scope: "col", class: "num" }, confidence ? `Δ [${Math.round(confidence * 100)}% interval]` : "Δ"),
        ),
      ),
      h("tbody", {}, labelled(rows, ["", left, right, "Δ"])),
    ),
  );
}

/** Each cell carries its column's name, so a phone shows the table as one labelled card per row. */
function labelled(rows: HTMLElement[], names: string[]): HTMLElement[] {
  for (const row of rows) [...row.children].forEach((cell, index) => names[index] && cell.setAttribute("data-label", names[index]));
  return rows;
}

/** How long until `iso`, as a person reads it: "2 d 3 h", "41 min", "expired". */
function until(iso: string): string {
  const ms = Date.parse(iso) - Date.now();
  if (!Number.isFinite(ms)) return "—";
  if (ms <= 0) return "expired";
  const minutes = Math.round(ms / 60_000);
  if (minutes < 90) return `${minutes} min`;
  const hours = Math.round(minutes / 60);
  return hours < 48 ? `${hours} h` : `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

function pairedNote(paired: PairedComparison | null | undefined): HTMLElement | null {
  if (!paired) return null;
  return h(
    "p",
    { class: "muted", "data-testid": "paired-note" },
    `Scored on the same ${paired.rows} unseen rows (evaluation set ${short(paired.fingerprint)}), ` +
      `${paired.method || "paired bootstrap"}, ${Math.round(paired.confidence * 100)}% intervals of challenger − champion.`,
  );
}

function approvalCard(view: View, approval: Approval): HTMLElement {
  const { state, ui } = view;
  const challenger = state.models.find((model) => model.version === approval.version);
  const champ = state.models.find((model) => model.version === approval.champion_version);
  const names = metricNames([challenger, champ].filter((model): model is ModelVersion => Boolean(model)));
  const commentId = `comment-${approval.approval_id}`;
  const busy = ui.deciding.has(approval.approval_id);
  return h(
    "article",
    { class: "approval-card", "data-testid": "approval-card", "data-version": approval.version, "data-approval": approval.approval_id, "data-key": `approval-${approval.approval_id}` },
    h(
      "p",
      {},
      h("strong", {}, "Challenger ", versionLink(approval.version)),
      approval.champion_version ? h("span", {}, " vs champion ", versionLink(approval.champion_version)) : " — the first model (no champion yet)",
      h("span", { class: "muted" }, " · run ", h("a", { href: link.run(approval.run_id) }, approval.run_id)),
    ),
    h(
      "p",
      { class: "muted", "data-testid": "approval-times" },
      // The challenger was staged when the run asked for this decision.
      challenger?.status === "STAGED" && challenger.updated_at ? `Waiting since ${formatTime(challenger.updated_at)} · ` : "",
      `expires ${formatTime(approval.expires_at)}${approval.expires_at ? ` (in ${until(approval.expires_at)})` : ""}`,
    ),
    comparisonTable(
      "Challenger against champion",
      `Challenger v${approval.version}`,
      approval.champion_version ? `Champion v${approval.champion_version}` : "Champion",
      comparisonRows(challenger, champ, names, approval.verdict),
      challenger?.comparison?.confidence ?? approval.verdict?.confidence ?? undefined,
    ),
    pairedNote(challenger?.comparison),
    approval.verdict?.rules?.length ? h("div", { "data-testid": "approval-verdict" }, h("p", { class: "muted" }, "The policy's verdict:"), verdict(challenger, null, approval.verdict)) : null,
    h(
      "div",
      { class: "decision" },
      h("label", { for: commentId }, "Comment (optional, recorded with the decision)"),
      h("textarea", { id: commentId, rows: 2, "data-testid": "approval-comment", maxlength: 500 }),
      h(
        "div",
        { class: "buttons" },
        h("button", { type: "button", class: "primary", "data-action": "approve", "data-testid": "approve", disabled: busy }, `Accept v${approval.version}`),
        h("button", { type: "button", class: "danger", "data-action": "reject", "data-testid": "reject", disabled: busy }, `Reject v${approval.version}`),
      ),
    ),
  );
}

// Overview: policy, serving, outbox ------------------------------------------------------------------
function renderPolicy({ state }: View): void {
  const policy = state.health?.policy;
  show($("policy-section"), Boolean(policy));
  if (!policy) return;
  const guardrails = policy.guardrail_metrics.length
    ? `${policy.guardrail_metrics.map(metricLabel).join(", ")} may not drop by more than ${policy.guardrail_tolerance}`
    : "none";
  patch(
    $("policy"),
    facts(
      [
        ["Approval", policy.approval_mode === "manual" ? "manual: a person accepts or rejects each challenger" : "automatic: a challenger that passes every rule is deployed"],
        ["Floor", `${metricLabel(policy.floor_metric)} ≥ ${policy.metric_floor}`],
        [
          "Primary metric",
          `${metricLabel(policy.primary_metric)} must improve by ≥ ${policy.min_improvement}` +
            (policy.promotion_confidence ? `, its ${Math.round(policy.promotion_confidence * 100)}% paired interval above zero` : ""),
        ],
        ["Guardrails", guardrails],
      ],
      "policy-facts",
    ),
  );
}

function ms(value: number | null | undefined): string {
  if (typeof value !== "number") return "—";
  return Number.isFinite(value) ? `≤ ${value} ms` : "> 30 s";
}

function renderServing({ state }: View): void {
  const monitoring = state.monitoring;
  show($("serving-section"), Boolean(monitoring));
  if (!monitoring) return;
  const latestDrift = new Map<number, NonNullable<typeof monitoring.drift>[number]>();
  for (const report of monitoring.drift ?? []) if (!latestDrift.has(report.version)) latestDrift.set(report.version, report);
  patch(
    $("serving"),
    monitoring.versions.length === 0
      ? h("p", { class: "empty", "data-key": "no-serving" }, `No predictions served since ${monitoring.since_hour}:00 UTC.`)
      : h(
          "div",
          { ...scroller("Serving per version"), "data-key": "serving-table" },
          h(
            "table",
            { class: "stack" },
            h("caption", { class: "visually-hidden" }, "Serving per version"),
            h("thead", {}, h("tr", {}, ["Version", "Requests", "Errors", "p50", "p99", "Drift"].map((text) => h("th", { scope: "col" }, text)))),
            h(
              "tbody",
              {},
              monitoring.versions.map((row) => {
                const drift = latestDrift.get(row.version);
                const score = drift?.drifts?.length ? Math.max(...drift.drifts.map((item) => item.psi)) : null;
                return h(
                  "tr",
                  { "data-key": `serving-${row.version}`, "data-testid": "serving-row" },
                  h("th", { scope: "row", "data-label": "Version" }, versionLink(row.version)),
                  h("td", { class: "num", "data-label": "Requests" }, row.invocations),
                  h("td", { class: "num", "data-label": "Errors" }, `${row.errors} (${(row.error_rate * 100).toFixed(1)}%)`),
                  h("td", { class: "num", "data-label": "p50" }, ms(row.p50_ms)),
                  h("td", { class: "num", "data-label": "p99" }, ms(row.p99_ms)),
                  h(
                    "td",
                    { "data-label": "Drift" },
                    drift?.skipped ? h("span", { class: "muted" }, drift.skipped) : score === null ? "—" : `PSI ${score.toFixed(2)}${score > drift!.threshold ? " ⚠ drifted" : ""}`,
                  ),
                );
              }),
            ),
          ),
        ),
    h("p", { class: "muted", "data-key": "serving-note" }, `Since ${monitoring.since_hour}:00 UTC; latency from hourly histograms.`),
  );
}

/** Text with its http(s) links made clickable (as text nodes and anchors: nothing is parsed as HTML). */
function linkify(text: string): (HTMLElement | string)[] {
  const out: (HTMLElement | string)[] = [];
  let last = 0;
  for (const match of text.matchAll(/https?:\/\/[^\s<>"']+/g)) {
    const url = match[0].replace(/[.,;:)]+$/, "");
    out.push(text.slice(last, match.index));
    out.push(h("a", { href: url, target: "_blank", rel: "noopener noreferrer", "data-testid": "outbox-link" }, url));
    last = (match.index ?? 0) + url.length;
  }
  out.push(text.slice(last));
  return out;
}

function renderOutbox({ state, config }: View): void {
  show($("outbox-section"), Boolean(config.outbox));
  if (!config.outbox) return;
  show($("empty-outbox"), state.outbox.length === 0);
  patch(
    $("outbox"),
    ...state.outbox.slice(0, 30).map((message) =>
      h(
        "li",
        { "data-testid": "outbox-item", "data-kind": message.kind, "data-key": `mail-${message.id}` },
        h(
          "details",
          {},
          h("summary", {}, h("span", { class: "subject" }, message.subject), h("span", { class: "muted" }, ` · ${formatTime(message.date)} · to ${message.to}`)),
          h("pre", {}, linkify(message.body)),
        ),
      ),
    ),
  );
}

// Detail pages -------------------------------------------------------------------------------------
function detailView(view: View): (HTMLElement | null)[] {
  const route = view.ui.route;
  if (route.view === "version") return versionPage(view, route.version);
  if (route.view === "run") return runPage(view, route.id);
  if (route.view === "compare") return comparePage(view, route.a, route.b);
  if (route.view === "activity") return activityPage(view);
  if (route.view === "monitoring") return monitoringPage(view);
  if (route.view === "batch") return batchPage(view);
  return [];
}

function notFound(what: string): HTMLElement[] {
  return [h("div", { class: "page-head" }, pageTitle(what)), h("p", { class: "empty" }, `${what} is not in the registry (yet).`)];
}

function auditFor(audit: AuditEntry[] | null | undefined, loaded: boolean): HTMLElement {
  if (!loaded) return h("p", { class: "muted" }, "Loading the decisions…");
  if (!audit) return h("p", { class: "muted", "data-testid": "audit-unavailable" }, "The decisions are shown to operators only.");
  const entries = [...audit].sort((a, b) => a.at.localeCompare(b.at));
  if (!entries.length) return h("p", { class: "muted", "data-testid": "audit-empty" }, "No recorded decision.");
  return h(
    "ol",
    { class: "timeline", "data-testid": "audit" },
    entries.map((entry) =>
      h(
        "li",
        { "data-testid": "audit-entry", "data-action-name": entry.action, "data-key": `audit-${entry.audit_id}` },
        h("time", { datetime: entry.at }, formatTime(entry.at)),
        " ",
        h("strong", {}, entry.action),
        ` by ${entry.actor}${entry.via ? ` (${entry.via})` : ""}`,
        entry.comment ? h("q", {}, entry.comment) : null,
        entry.detail ? h("span", { class: "muted" }, ` — ${entry.detail}`) : null,
      ),
    ),
  );
}

function confusionMatrix(model: ModelVersion, classNames: string[]): HTMLElement | null {
  const matrix = model.confusion_matrix ?? [];
  if (!matrix.length) return null;
  // The recipe's class names (GET /health), in the matrix's order; the index only if the recipe gives none.
  const name = (index: number): string => (classNames.length === matrix.length ? classNames[index] : String(index));
  return h(
    "div",
    scroller("Confusion matrix"),
    h(
      "table",
      { class: "matrix", "data-testid": "confusion-matrix" },
      h("caption", {}, "Confusion matrix (rows: true class, columns: predicted class)"),
      h("thead", {}, h("tr", {}, h("td", {}), matrix[0].map((_, column) => h("th", { scope: "col", class: "num" }, `pred ${name(column)}`)))),
      h(
        "tbody",
        {},
        matrix.map((row, index) =>
          h("tr", {}, h("th", { scope: "row" }, `true ${name(index)}`), row.map((cell, column) => h("td", { class: `num ${index === column ? "diag" : ""}` }, cell))),
        ),
      ),
    ),
  );
}

function versionPage(view: View, version: number): (HTMLElement | null)[] {
  const { state } = view;
  const model = state.versions.get(version) ?? state.models.find((candidate) => candidate.version === version);
  if (!model) return notFound(`Version ${version}`);
  const live = state.health?.champion_version ?? null;
  const champion = live !== null && live !== version ? state.models.find((candidate) => candidate.version === live) : undefined;
  const paired = model.comparison ?? null;
  const judgedAgainst = paired?.champion_version ?? null;
  const names = metricNames([model]);
  const evalSet = model.eval_set
    ? `${model.eval_set.rows} rows, fingerprint ${short(model.eval_set.fingerprint, 16)}`
    : typeof model.n_test === "number"
      ? `${model.n_test} hold-out rows`
      : null;
  const serving = state.monitoring?.versions.find((row) => row.version === version);
  const history: [string, Node_][] = [
    ["Created", formatTime(model.created_at)],
    ["Went live", model.live_since ? formatTime(model.live_since) : model.status === "LIVE" ? "live now" : null],
    ["Last change", model.updated_at ? `${formatTime(model.updated_at)} (${model.status.toLowerCase()})` : null],
  ];
  return [
    h(
      "div",
      { class: "page-head" },
      pageTitle([`Model version ${version}`, version === live ? h("span", { class: "star" }, " ★ champion") : null]),
      badge(model.status, "version-status"),
      rollbackButton(view, model),
      live !== null && live !== version ? h("a", { class: "button-link", href: link.compare(version, live), "data-testid": "compare-champion" }, `Compare with champion v${live}`) : null,
    ),
    ...pendingHere(view, (approval) => approval.version === version),
    humanRejection(model),
    model.failure_reason || model.verdict?.rules?.length
      ? h(
          "section",
          { class: "card", "data-testid": "version-verdict" },
          h("h3", {}, model.status === "REJECTED" && !rejectedByPerson(model) ? "Why it was rejected" : model.status === "FAILED" ? "Why it failed" : "The policy's verdict"),
          model.status === "FAILED" && model.failure_reason ? h("p", { class: "error-text" }, model.failure_reason) : null,
          verdict(model, model.status === "FAILED" || rejectedByPerson(model) ? null : model.failure_reason),
        )
      : null,
    shadowSection(model.verdict),
    h(
      "section",
      { class: "card", "data-testid": "version-metrics" },
      h("h3", {}, "Metrics"),
      h("p", { class: "muted", "data-testid": "eval-set" }, evalSet ? `Measured on the evaluation set: ${evalSet}.` : "The evaluation set is not recorded for this version."),
      comparisonTable(
        "Metrics of this version against the champion",
        `v${version}`,
        paired ? `Champion${judgedAgainst ? ` v${judgedAgainst}` : ""} (paired)` : champion ? `Champion v${champion.version}` : "Champion",
        comparisonRows(model, paired ? undefined : champion, names),
        paired?.confidence,
      ),
      paired ? pairedNote(paired) : h("p", { class: "muted", "data-testid": "no-comparison" }, "No paired comparison with a champion is recorded for this version."),
      confusionMatrix(model, state.health?.prediction?.class_names ?? []),
    ),
    h(
      "section",
      { class: "card", "data-testid": "version-training" },
      h("h3", {}, "Training"),
      facts([
        ["Run", model.run_id ? h("a", { href: link.run(model.run_id) }, model.run_id) : null],
        ["Training job", model.training_job_name ? h("code", {}, model.training_job_name) : null],
        ["Training time", model.training_seconds != null ? seconds(model.training_seconds) : null],
        ["Dataset", model.dataset],
        ["Data fingerprint", model.data_fingerprint ? h("code", { title: model.data_fingerprint }, short(model.data_fingerprint, 16)) : null],
        ["Rows", model.n_train != null || model.n_test != null ? `${model.n_train ?? "?"} trained on, ${model.n_test ?? "?"} held out` : null],
      ], "training-facts"),
      h("h4", {}, "Hyperparameters"),
      model.hyperparameters && Object.keys(model.hyperparameters).length
        ? facts(Object.entries(model.hyperparameters).map(([name, value]) => [name, h("code", {}, value)]), "hyperparameters")
        : h("p", { class: "muted", "data-testid": "hyperparameters" }, model.hyperparameters ? "The recipe's defaults (none set)." : "Not recorded."),
    ),
    costCard(state.versions.get(version)?.run_cost, "version-cost", "Cost of the run that trained it"),
    h(
      "section",
      { class: "card", "data-testid": "version-artifact" },
      h("h3", {}, "Artifact"),
      facts([
        ["Location", model.model_data_url ? h("code", { class: "wrap" }, model.model_data_url) : null],
        ["SHA-256", model.artifact_sha256 ? h("code", { class: "wrap", "data-testid": "artifact-sha256" }, model.artifact_sha256) : null],
        ["SageMaker model", model.model_name ? h("code", {}, model.model_name) : null],
        ["Endpoint config", model.endpoint_config_name ? h("code", {}, model.endpoint_config_name) : null],
      ], "artifact-facts"),
    ),
    h(
      "section",
      { class: "card", "data-testid": "version-serving" },
      h("h3", {}, "Serving"),
      serving
        ? facts([
            ["Requests", serving.invocations],
            ["Errors", `${serving.errors} (${(serving.error_rate * 100).toFixed(1)}%)`],
            ["Latency p50 / p90 / p99", `${ms(serving.p50_ms)} / ${ms(serving.p90_ms)} / ${ms(serving.p99_ms)}`],
            ["Cost on AWS", serving.cost_usd != null ? `${usd(serving.cost_usd)} (us-east-1 list prices; docs/cost.md)` : null],
          ], "serving-facts")
        : h("p", { class: "muted" }, state.monitoring ? "No predictions served by this version in the window." : "Requests, latency and errors per version appear here once monitoring reports them."),
    ),
    h(
      "section",
      { class: "card", "data-testid": "version-history" },
      h("h3", {}, "History"),
      facts(history),
      auditFor(state.versions.get(version)?.audit, state.versions.has(version)),
    ),
  ];
}

/** A challenger a person turned down (the policy may have passed it): the registry records "rejected by …". */
function rejectedByPerson(model: ModelVersion | undefined): boolean {
  return model?.status === "REJECTED" && Boolean(model.failure_reason?.startsWith("rejected by "));
}

function humanRejection(model: ModelVersion | undefined): HTMLElement | null {
  if (!model || !rejectedByPerson(model)) return null;
  const [who, ...comment] = (model.failure_reason ?? "").replace(/^rejected by /, "").split(": ");
  const rules = model.verdict?.rules ?? [];
  return h(
    "section",
    { class: "card", "data-testid": "human-rejection" },
    h("h3", {}, "Why it was rejected"),
    h("p", {}, "Rejected by ", h("strong", {}, who), comment.length ? [": ", h("q", {}, comment.join(": "))] : " (no comment)"),
    rules.length && rules.every((rule) => rule.passed)
      ? h("p", { class: "muted" }, "A person decided: the policy's rules below had all passed.")
      : null,
  );
}

/** The pending approval(s) matching `which`, with their buttons: decide where the email's link lands. */
function pendingHere(view: View, which: (approval: Approval) => boolean): HTMLElement[] {
  const waiting = view.state.approvals.filter(which);
  if (!waiting.length) return [];
  return [
    h(
      "section",
      { class: "card approval", "data-testid": "pending-here", "aria-labelledby": "pending-here-title" },
      h("h3", { id: "pending-here-title", tabindex: -1 }, "Waiting for your decision"),
      waiting.map((approval) => approvalCard(view, approval)),
    ),
  ];
}

function runPage(view: View, runId: string): (HTMLElement | null)[] {
  const { state } = view;
  const run = state.runs.find((candidate) => candidate.run_id === runId) ?? state.details.get(runId)?.run;
  if (!run) return notFound(`Run ${runId}`);
  const detail = state.details.get(runId);
  const gone = state.gone.get(runId);
  const model = run.version ? state.models.find((candidate) => candidate.version === run.version) : undefined;
  const rejected = run.outcome === "REJECTED" || model?.status === "REJECTED";
  const lines = detail ? stepLines(detail) : [];
  return [
    h("div", { class: "page-head" }, pageTitle(["Run ", h("code", {}, run.run_id)]), badge(run.status), run.outcome ? badge(run.outcome, "outcome") : null),
    h(
      "section",
      { class: "card" },
      facts([
        ["Dataset", run.dataset],
        ["Trigger", run.trigger],
        ["Model version", run.version ? versionLink(run.version) : null],
        ["Started", formatTime(run.started_at)],
        ["Ended", run.ended_at ? formatTime(run.ended_at) : run.status === "RUNNING" ? "still running" : null],
        ["Duration", duration(run.started_at, run.ended_at)],
      ], "run-facts"),
      run.error && !rejected ? h("p", { class: "error-text", "data-testid": "run-error" }, run.error) : null,
    ),
    ...pendingHere(view, (approval) => approval.run_id === run.run_id),
    humanRejection(model),
    rejected || detail?.verdict
      ? h("section", { class: "card", "data-testid": "run-verdict" }, h("h3", {}, rejected && !rejectedByPerson(model) ? "Why the challenger was rejected" : "The policy's verdict"), verdict(model, rejected && !rejectedByPerson(model) ? (run.error ?? model?.failure_reason) : null, detail?.verdict))
      : null,
    shadowSection(detail?.verdict ?? model?.verdict),
    h(
      "section",
      { class: "card", "data-testid": "run-steps" },
      h("h3", {}, "Steps"),
      gone
        ? h("p", { class: "empty", "data-testid": "history-gone" }, `Steps not available: ${gone}. The run's outcome above is kept in the registry.`)
        : !detail
          ? h("p", { class: "muted" }, "Loading…")
          : h(
              "div",
              scroller("Steps"),
              h(
                "table",
                { class: "steps-table" },
                h("thead", {}, h("tr", {}, ["Step", "Status", "Started", "Times", "Duration"].map((text) => h("th", { scope: "col" }, text)))),
                h(
                  "tbody",
                  {},
                  lines.map((step) =>
                    h(
                      "tr",
                      { class: `step-row ${step.status}`, "data-testid": "step", "data-step": step.name, "data-status": step.status, "data-key": `row-${step.name}` },
                      h("th", { scope: "row" }, humanize(step.name)),
                      h("td", {}, `${stepIcon(step.status)} ${step.status === "entered" ? "running" : step.status}`),
                      h("td", {}, step.entered_at ? formatTime(step.entered_at) : "—"),
                      h("td", { class: "num" }, step.count || "—"),
                      h("td", { class: "num" }, step.count ? seconds(Math.round(step.ms / 1000)) : "—"),
                    ),
                  ),
                ),
              ),
            ),
    ),
    costCard(detail?.cost ?? run.cost, "run-cost", "Cost on AWS"),
    h("section", { class: "card" }, h("h3", {}, "Decisions"), auditFor(detail?.audit, Boolean(detail))),
  ];
}

/** A version's own recorded metrics, without the paired comparison and verdict it was judged by. */
function ownMetrics(model: ModelVersion): ModelVersion {
  return { ...model, comparison: null, verdict: null };
}

function comparePage(view: View, a: number, b: number): HTMLElement[] {
  const { state } = view;
  const left = state.models.find((model) => model.version === a);
  const right = state.models.find((model) => model.version === b);
  if (!left || !right) return notFound(`Version ${left ? b : a}`);
  const names = metricNames([left, right]);
  // If one was judged against the other in its training job, the paired numbers (with intervals) are the truth.
  const paired =
    left.comparison?.champion_version === b ? { of: left, against: right, comparison: left.comparison } :
    right.comparison?.champion_version === a ? { of: right, against: left, comparison: right.comparison } : null;
  // Both tables put the versions in one order: the judged one first when a paired comparison exists, else the URL's.
  const [first, second] = paired ? [paired.of, paired.against] : [left, right];
  const keys = [...new Set([...Object.keys(left.hyperparameters ?? {}), ...Object.keys(right.hyperparameters ?? {})])];
  const row = (name: string, x: Node_, y: Node_, differ = false): HTMLElement =>
    h("tr", { class: differ ? "differs" : "" }, h("th", { scope: "row" }, name), h("td", {}, x ?? "—"), h("td", {}, y ?? "—"));
  return [
    h("div", { class: "page-head" }, pageTitle(`v${first.version} and v${second.version} side by side`)),
    h(
      "section",
      { class: "card", "data-testid": "compare-metrics" },
      h("h3", {}, "Metrics"),
      paired
        ? [
            comparisonTable(`v${paired.of.version} against v${paired.against.version}`, `v${paired.of.version}`, `v${paired.against.version} (paired)`, comparisonRows(paired.of, undefined, names), paired.comparison?.confidence),
            pairedNote(paired.comparison),
          ]
        : [
            // Each version's own recorded metrics: a paired comparison either has with a third version (or its
            // verdict's intervals) says nothing about these two.
            comparisonTable(`v${a} against v${b}`, `v${a}`, `v${b}`, comparisonRows(ownMetrics(left), ownMetrics(right), names)),
            h("p", { class: "muted", "data-testid": "no-comparison" }, `Δ = v${a} − v${b}, each on its own evaluation set (no paired comparison between these two is recorded).`),
          ],
    ),
    h(
      "section",
      { class: "card", "data-testid": "compare-facts" },
      h("h3", {}, "Provenance"),
      h(
        "div",
        scroller("Provenance side by side"),
        h(
          "table",
          { class: "side-by-side" },
          h("thead", {}, h("tr", {}, h("td", {}), h("th", { scope: "col" }, versionLink(first.version)), h("th", { scope: "col" }, versionLink(second.version)))),
          h(
            "tbody",
            {},
            row("Status", first.status, second.status),
            row("Created", formatTime(first.created_at), formatTime(second.created_at)),
            row("Dataset", first.dataset, second.dataset, first.dataset !== second.dataset),
            row("Data fingerprint", short(first.data_fingerprint, 16), short(second.data_fingerprint, 16), first.data_fingerprint !== second.data_fingerprint),
            row("Evaluation set", first.eval_set ? `${first.eval_set.rows} rows ${short(first.eval_set.fingerprint)}` : null, second.eval_set ? `${second.eval_set.rows} rows ${short(second.eval_set.fingerprint)}` : null, first.eval_set?.fingerprint !== second.eval_set?.fingerprint),
            row("Rows trained / held out", first.n_train != null ? `${first.n_train} / ${first.n_test ?? "?"}` : null, second.n_train != null ? `${second.n_train} / ${second.n_test ?? "?"}` : null),
            row("Training time", first.training_seconds != null ? seconds(first.training_seconds) : null, second.training_seconds != null ? seconds(second.training_seconds) : null),
            keys.map((key) => row(`hyperparameter ${key}`, first.hyperparameters?.[key] ?? null, second.hyperparameters?.[key] ?? null, first.hyperparameters?.[key] !== second.hyperparameters?.[key])),
            row("Artifact SHA-256", short(first.artifact_sha256, 16), short(second.artifact_sha256, 16)),
          ),
        ),
      ),
    ),
  ];
}


// Activity -------------------------------------------------------------------------------------------
interface Happening {
  at: string;
  kind: "decision" | "run" | "deployment";
  what: string;
  who: string;
  comment?: string;
  where?: string;
  version?: number | null;
  key: string;
}

/** One timeline: the audit's decisions, each run's start and end, and each time a version went live. */
export function happenings(state: State): Happening[] {
  const out: Happening[] = [];
  for (const entry of state.audit ?? []) {
    out.push({
      at: entry.at, kind: entry.action === "rollback" || entry.action === "deploy" ? "deployment" : "decision",
      what: `${entry.action}${entry.version ? ` v${entry.version}` : ""}${entry.detail ? ` — ${entry.detail}` : ""}`,
      who: entry.actor, comment: entry.comment, where: entry.via, version: entry.version, key: `audit-${entry.audit_id}`,
    });
  }
  for (const run of state.runs) {
    out.push({ at: run.started_at, kind: "run", what: `run ${run.run_id} started (${run.trigger}, ${run.dataset})`, who: run.trigger, version: run.version, key: `start-${run.run_id}` });
    if (run.ended_at) {
      out.push({
        at: run.ended_at, kind: "run", what: `run ${run.run_id} ended: ${run.outcome ?? run.status}${run.version ? ` (v${run.version})` : ""}`,
        who: "pipeline", version: run.version, key: `end-${run.run_id}`,
      });
    }
  }
  return out.sort((a, b) => b.at.localeCompare(a.at));
}

/** When each version served: from each go-live (a deployed run's end, a rollback) to the next. */
export function livePeriods(state: State): { version: number; from: string; to: string | null }[] {
  const starts: { version: number; at: string }[] = [];
  for (const run of state.runs) if (run.outcome === "DEPLOYED" && run.version && run.ended_at) starts.push({ version: run.version, at: run.ended_at });
  for (const entry of state.audit ?? []) if ((entry.action === "rollback" || entry.action === "deploy") && entry.version) starts.push({ version: entry.version, at: entry.at });
  starts.sort((a, b) => a.at.localeCompare(b.at));
  const live = state.health?.champion_version ?? null;
  // A rollback that did not take (its version is not live and nothing followed) is not a period.
  const periods = starts.map((start, index) => ({ version: start.version, from: start.at, to: starts[index + 1]?.at ?? null }));
  return periods.filter((period) => period.to !== null || period.version === live).reverse();
}

function activityPage(view: View): HTMLElement[] {
  const { state, ui } = view;
  const kind = ui.activity.kind;
  const text = ui.activity.text.trim().toLowerCase();
  const rows = happenings(state).filter(
    (item) => (kind === "all" || item.kind === kind) &&
      (!text || `${item.what} ${item.who} ${item.comment ?? ""} ${item.where ?? ""}`.toLowerCase().includes(text)),
  );
  return [
    h("div", { class: "page-head" }, pageTitle("Activity")),
    h(
      "section",
      { class: "card", "data-testid": "live-periods" },
      h("h3", {}, "Who served when"),
      h(
        "ol",
        { class: "timeline" },
        livePeriods(state).map((period) =>
          h("li", { "data-testid": "live-period", "data-version": period.version, "data-key": `period-${period.from}` },
            versionLink(period.version), ` from ${formatTime(period.from)} ${period.to ? `to ${formatTime(period.to)}` : "— live now"}`),
        ),
      ),
    ),
    h(
      "section",
      { class: "card", "data-testid": "activity" },
      h(
        "div",
        { class: "filters", "data-key": "filters" },
        h("label", { for: "activity-kind" }, "Show"),
        h("select", { id: "activity-kind", "data-action": "activity-kind", "data-testid": "activity-kind" },
          [["all", "everything"], ["decision", "decisions"], ["run", "runs"], ["deployment", "deployments"]].map(([value, label]) =>
            h("option", { value, selected: kind === value }, label))),
        h("label", { for: "activity-text" }, "containing"),
        h("input", { id: "activity-text", type: "search", "data-action": "activity-text", "data-testid": "activity-text" }),
      ),
      state.auditProblem ? h("p", { class: "muted", "data-testid": "audit-unavailable" }, `Decisions not shown: ${state.auditProblem}`) : null,
      rows.length === 0
        ? h("p", { class: "empty", "data-key": "none" }, state.audit === null && !state.auditProblem ? "Loading…" : "Nothing matches.")
        : h(
            "ol",
            { class: "timeline activity", "data-key": "rows" },
            rows.slice(0, 300).map((item) =>
              h("li", { "data-testid": "happening", "data-kind": item.kind, "data-key": item.key },
                h("time", { datetime: item.at }, formatTime(item.at)), " ",
                h("span", { class: `badge ${item.kind}` }, item.kind), " ",
                h("strong", {}, item.what), ` by ${item.who}${item.where ? ` (${item.where})` : ""}`,
                item.comment ? h("q", {}, item.comment) : null),
            ),
          ),
    ),
  ];
}

// Monitoring -----------------------------------------------------------------------------------------
function monitoringPage({ state }: View): HTMLElement[] {
  const monitoring = state.monitoring;
  const head = h("div", { class: "page-head" }, pageTitle("Monitoring"));
  if (!monitoring) return [head, h("p", { class: "muted" }, "Loading… (or this API has no GET /monitoring)")];
  const checks = [...(monitoring.drift ?? [])].sort((a, b) => b.checked_at.localeCompare(a.checked_at));
  const hours = [...(monitoring.hourly ?? [])].sort((a, b) => b.hour.localeCompare(a.hour) || a.version - b.version);
  return [
    head,
    h(
      "section",
      { class: "card", "data-testid": "drift-history" },
      h("h3", {}, "Drift per feature, check by check"),
      h("p", { class: "muted" }, `Population stability index (PSI) of each feature against the training data; over ${monitoring.drift_threshold ?? "the threshold"} is drift.`),
      checks.length === 0
        ? h("p", { class: "empty", "data-testid": "no-drift" }, "No drift check yet (it runs daily on captured requests).")
        : h(
            "div",
            scroller("Drift checks"),
            h(
              "table",
              { class: "stack" },
              h("thead", {}, h("tr", {}, ["Checked", "Version", "Feature", "PSI", "Threshold", "Samples"].map((text) => h("th", { scope: "col" }, text)))),
              h(
                "tbody",
                {},
                checks.flatMap((check) =>
                  check.skipped || !check.drifts?.length
                    ? [h("tr", { "data-testid": "drift-row", "data-key": `drift-${check.checked_at}-${check.version}` },
                        h("th", { scope: "row", "data-label": "Checked" }, formatTime(check.checked_at)),
                        h("td", { "data-label": "Version" }, versionLink(check.version)),
                        h("td", { colspan: 4, "data-label": "Result" }, check.skipped ?? "nothing compared"))]
                    : check.drifts.map((item) => {
                        const over = item.psi > check.threshold;
                        return h(
                          "tr",
                          { "data-testid": "drift-row", "data-over": String(over), "data-key": `drift-${check.checked_at}-${check.version}-${item.feature}-${item.statistic}` },
                          h("th", { scope: "row", "data-label": "Checked" }, formatTime(check.checked_at)),
                          h("td", { "data-label": "Version" }, versionLink(check.version)),
                          h("td", { "data-label": "Feature" }, `${item.feature ?? "?"}${item.statistic ? ` (${item.statistic})` : ""}`),
                          h("td", { class: `num ${over ? "worse" : ""}`, "data-label": "PSI" }, `${over ? "⚠ " : ""}${item.psi.toFixed(3)}`),
                          h("td", { class: "num", "data-label": "Threshold" }, check.threshold),
                          h("td", { class: "num", "data-label": "Samples" }, item.samples ?? check.samples),
                        );
                      }),
                ),
              ),
            ),
          ),
    ),
    h(
      "section",
      { class: "card", "data-testid": "hourly" },
      h("h3", {}, "Requests per hour and version"),
      hours.length === 0
        ? h("p", { class: "empty" }, `No predictions served since ${monitoring.since_hour}:00 UTC.`)
        : h(
            "div",
            scroller("Requests per hour"),
            h(
              "table",
              { class: "stack" },
              h("thead", {}, h("tr", {}, ["Hour", "Version", "Requests", "Errors", "p50", "p99"].map((text) => h("th", { scope: "col" }, text)))),
              h(
                "tbody",
                {},
                hours.map((row) =>
                  h(
                    "tr",
                    { "data-testid": "hour-row", "data-key": `hour-${row.hour}-${row.version}` },
                    h("th", { scope: "row", "data-label": "Hour" }, formatTime(`${row.hour}:00:00Z`)),
                    h("td", { "data-label": "Version" }, versionLink(row.version)),
                    h("td", { class: "num", "data-label": "Requests" }, row.invocations),
                    h("td", { class: `num ${row.errors ? "worse" : ""}`, "data-label": "Errors" }, row.invocations ? `${row.errors} (${((row.errors / row.invocations) * 100).toFixed(1)}%)` : row.errors),
                    h("td", { class: "num", "data-label": "p50", "data-testid": "hour-p50" }, hourLatency(row.p50_ms, row.invocations)),
                    h("td", { class: "num", "data-label": "p99", "data-testid": "hour-p99" }, hourLatency(row.p99_ms, row.invocations)),
                  ),
                ),
              ),
            ),
          ),
    ),
  ];
}

/** An hour's latency percentile: ≤ the histogram bucket's bound; above the last bound when the API says null. */
function hourLatency(value: number | null | undefined, requests: number): string {
  if (!requests) return "—";
  return typeof value === "number" ? ms(value) : "> 30 s";
}

// Batch jobs --------------------------------------------------------------------------------------------
function batchPage({ state }: View): HTMLElement[] {
  const jobs = state.batches;
  const head = h("div", { class: "page-head" }, pageTitle("Batch jobs"));
  const upload = h(
    "section",
    { class: "card", "data-testid": "batch-upload", "data-key": "batch-upload" },
    h("h3", {}, "Score a file with the champion"),
    h("p", { class: "muted" }, "A CSV with the recipe's feature columns and a header row (up to 3.5 MB here; larger files: ", h("code", {}, "challenger batch score FILE"), "). It is written to ", h("code", {}, "batch/<name>.csv"), " and scored by a SageMaker Batch Transform job; the result keeps every column and adds the predictions."),
    h(
      "form",
      { class: "batch-upload", "data-action": "score-file", "data-testid": "batch-form" },
      h("label", { for: "batch-file" }, "CSV file"),
      h("input", { id: "batch-file", type: "file", accept: ".csv,text/csv", name: "file", required: true, "data-testid": "batch-file" }),
      h("label", { for: "batch-name" }, "Name (default: the file's)"),
      h("input", { id: "batch-name", type: "text", name: "name", maxlength: 60, pattern: "[A-Za-z0-9][A-Za-z0-9_-]*", "data-testid": "batch-name" }),
      h("button", { type: "submit", class: "primary", "data-testid": "batch-submit" }, "Score"),
      h(
        "p",
        { "data-testid": "batch-upload-result", "aria-live": "polite", "data-key": "batch-upload-result" },
        state.batchNote
          ? h("span", state.batchNote.error ? { class: "error-text", "data-testid": "batch-upload-error" } : { "data-testid": "batch-uploaded" }, state.batchNote.text)
          : null,
      ),
    ),
  );
  if (state.batchProblem) return [head, upload, h("p", { class: "muted", "data-testid": "batch-unavailable" }, `Batch jobs not shown: ${state.batchProblem}`)];
  const list =
    jobs === null
      ? h("p", { class: "muted", "data-key": "batch-loading" }, "Loading…")
      : jobs.length === 0
        ? h("p", { class: "empty", "data-testid": "no-batches", "data-key": "no-batches" }, "No batch file scored yet.")
        : h(
            "div",
            { ...scroller("Batch jobs"), "data-key": "batch-table" },
            h(
              "table",
              { class: "stack" },
              h("caption", { class: "visually-hidden" }, "Batch jobs, newest upload first"),
              h("thead", {}, h("tr", {}, ["Uploaded", "File", "Status", "Rows", "Model", "Result"].map((text) => h("th", { scope: "col" }, text)))),
              h("tbody", {}, jobs.map((job) => batchRow(job))),
            ),
          );
  return [
    head,
    upload,
    h("section", { class: "card", "data-testid": "batches", "data-key": "batches" }, h("h3", {}, "Batch jobs"), list, loadMoreButton(state.more.batch, "batch", "older batch jobs")),
  ];
}

function batchRow(job: BatchJob): HTMLElement {
  const result =
    job.status === "SUCCEEDED"
      ? h("button", { type: "button", class: "link", "data-action": "batch-download", "data-batch": job.batch_id, "data-testid": "batch-download" }, `Download ${job.name}.out.csv`)
      : job.status === "FAILED"
        ? h("span", { class: "error-text reason", "data-testid": "batch-failure" }, job.failure_reason ?? "failed")
        : h("span", { class: "muted" }, job.job_name ? "scoring…" : "starting…");
  return h(
    "tr",
    { "data-testid": "batch-row", "data-status": job.status, "data-key": `batch-${job.batch_id}` },
    h("th", { scope: "row", "data-label": "Uploaded" }, formatTime(job.received_at)),
    h("td", { "data-label": "File", title: job.input_uri }, job.input_uri.replace(/^s3:\/\/[^/]+\//, "")),
    h("td", { "data-label": "Status" }, badge(job.status)),
    h("td", { class: "num", "data-label": "Rows", "data-testid": "batch-rows" }, job.rows ?? "—"),
    h("td", { "data-label": "Model", "data-testid": "batch-version" }, job.version ? versionLink(job.version) : "—"),
    h("td", { "data-label": "Result" }, result),
  );
}
