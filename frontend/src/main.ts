import "./style.css";
import { Api, ApiError } from "./api";
import { startSession, type Session } from "./auth";
import { renderCharts } from "./charts";
import { $, duration, formatTime, h, metric, show, toast } from "./dom";
import {
  METRIC_LABELS,
  METRICS,
  type Approval,
  type Config,
  type Health,
  type ModelVersion,
  type OutboxMessage,
  type PredictResponse,
  type Run,
  type RunDetail,
  type Step,
} from "./types";

const POLL_MS = Number(new URLSearchParams(location.search).get("poll") ?? "3000") || 3000;
const DEPLOYABLE = new Set(["LIVE", "RETIRED", "APPROVED", "STAGED", "REJECTED"]);

interface State {
  health: Health | null;
  models: ModelVersion[];
  runs: Run[];
  approvals: Approval[];
  details: Map<string, RunDetail>;
  outbox: OutboxMessage[];
}

const state: State = { health: null, models: [], runs: [], approvals: [], details: new Map(), outbox: [] };
const openRuns = new Set<string>(); // runs whose steps the user opened (or that are running)
const closedRuns = new Set<string>(); // runs the user closed while they were running
let api: Api;
let session: Session;
let config: Config;
let timer: number | undefined;
let pendingRollback: { version: number; since: number } | null = null;
let shownApprovals = "";

// Boot ---------------------------------------------------------------------------------------------
async function boot(): Promise<void> {
  try {
    const response = await fetch("./config.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    config = (await response.json()) as Config;
  } catch (error) {
    unreachable(`The dashboard's configuration (config.json) could not be loaded: ${(error as Error).message}. Retrying…`);
    setTimeout(boot, POLL_MS);
    return;
  }
  if (config.stage) {
    const stage = $("stage");
    stage.textContent = config.stage;
    show(stage, true);
  }
  session = await startSession(config);
  api = new Api(config.apiBase, session);
  if (session.signOut) {
    const button = $("sign-out");
    show(button, true);
    button.addEventListener("click", () => session.signOut?.());
  }
  if (session.signIn) $("sign-in").addEventListener("click", () => void session.signIn?.());
  wireForms();
  if (session.problem) return needSignIn(session.problem);
  if (!session.token()) return needSignIn(session.signInHint);
  show($("dashboard"), true);
  await refresh();
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) void refresh();
  });
}

function needSignIn(message: string): void {
  window.clearTimeout(timer);
  show($("dashboard"), false);
  show($("auth-required"), true);
  $("auth-message").textContent = message;
  show($("sign-in"), Boolean(session?.signIn));
}

function unreachable(message: string | null): void {
  const banner = $("api-unreachable");
  banner.textContent = message ?? "";
  show(banner, message !== null);
}

// Polling ------------------------------------------------------------------------------------------
async function refresh(): Promise<void> {
  window.clearTimeout(timer);
  try {
    const [health, models, runs, approvals, outbox] = await Promise.all([
      api.get<Health>("/health"),
      api.get<ModelVersion[]>("/models"),
      api.get<Run[]>("/runs"),
      api.get<Approval[]>("/approvals"),
      config.outbox ? api.call<OutboxMessage[]>("GET", config.outbox, undefined, true) : Promise.resolve([]),
    ]);
    Object.assign(state, { health, models, runs, approvals, outbox });
    await loadDetails();
    unreachable(null);
    render();
    $("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    if (error instanceof ApiError && error.unauthorized) return needSignIn(session.signInHint);
    const reason = error instanceof ApiError ? error.message : String(error);
    unreachable(`The API cannot be reached: ${reason}. Showing the last data; retrying every ${POLL_MS / 1000}s.`);
  }
  if (!document.hidden) timer = window.setTimeout(() => void refresh(), POLL_MS);
}

/** Steps of the runs on screen that need them: running, newest, or opened by the user. */
async function loadDetails(): Promise<void> {
  const wanted = state.runs.filter(
    (run, index) =>
      (run.status === "RUNNING" && !closedRuns.has(run.run_id)) || index === 0 || openRuns.has(run.run_id),
  );
  const stale = wanted.filter((run) => run.status === "RUNNING" || !state.details.has(run.run_id) ||
    state.details.get(run.run_id)?.run.status !== run.status);
  const details = await Promise.all(
    stale.map((run) => api.get<RunDetail>(`/runs/${encodeURIComponent(run.run_id)}`).catch(() => null)),
  );
  for (const detail of details) if (detail) state.details.set(detail.run.run_id, detail);
}

// Rendering ----------------------------------------------------------------------------------------
function champion(): number | null {
  return state.health?.champion_version ?? null;
}

function render(): void {
  const live = champion();
  $("champion").textContent = live === null ? "No model live" : `Champion: v${live}`;
  renderDeploying(live);
  renderApprovals();
  const withMetrics = state.models.some((model) => Object.keys(model.metrics ?? {}).length > 0);
  show($("empty-models"), state.models.length === 0);
  show($("chart-legend"), withMetrics);
  show($("charts"), withMetrics);
  if (withMetrics) renderCharts($("charts"), state.models, live);
  renderModels(live);
  renderRuns();
  renderOutbox();
}

function renderDeploying(live: number | null): void {
  const banner = $("deploying");
  if (pendingRollback && (live === pendingRollback.version || Date.now() - pendingRollback.since > 10 * 60_000)) {
    if (live === pendingRollback.version) toast(`v${live} is live again.`);
    pendingRollback = null;
  }
  banner.textContent = pendingRollback
    ? `Rolling back to v${pendingRollback.version}: blue/green swap and smoke test in progress…`
    : "";
  show(banner, pendingRollback !== null);
}

function statusBadge(status: string): HTMLElement {
  return h("span", { class: `badge ${status.toLowerCase()}`, "data-testid": "status" }, status);
}

function renderModels(live: number | null): void {
  const box = $("models");
  if (state.models.length === 0) {
    box.replaceChildren(h("p", { class: "empty" }, "No model versions yet."));
    return;
  }
  const rows = state.models.map((model) => {
    const canRollBack = live !== null && model.version < live && DEPLOYABLE.has(model.status);
    return h(
      "tr",
      { "data-testid": "model-row", "data-version": model.version, "data-status": model.status },
      h("th", { scope: "row" }, `v${model.version}`, model.version === live ? h("span", { class: "star", title: "champion" }, " ★") : null),
      h("td", {}, statusBadge(model.status)),
      METRICS.map((name) => h("td", { class: "num" }, metric(model.metrics?.[name]))),
      h("td", {}, model.dataset),
      h("td", {}, formatTime(model.created_at)),
      h(
        "td",
        {},
        model.failure_reason ? h("span", { class: "error-text" }, model.failure_reason) : null,
        canRollBack
          ? h(
              "button",
              {
                type: "button",
                class: "secondary",
                "data-testid": `rollback-${model.version}`,
                onclick: () => confirmRollback(model.version, live),
              },
              `Roll back to v${model.version}`,
            )
          : null,
      ),
    );
  });
  box.replaceChildren(
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        {},
        h("caption", { class: "visually-hidden" }, "Model versions, newest first"),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, "Version"),
            h("th", { scope: "col" }, "Status"),
            METRICS.map((name) => h("th", { scope: "col", class: "num" }, METRIC_LABELS[name])),
            h("th", { scope: "col" }, "Dataset"),
            h("th", { scope: "col" }, "Created"),
            h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
          ),
        ),
        h("tbody", {}, rows),
      ),
    ),
  );
}

/** Wait/Check loops enter the same states many times: one line per state, with how often it ran. */
function collapse(steps: Step[]): { name: string; status: Step["status"]; count: number }[] {
  const out: { name: string; status: Step["status"]; count: number }[] = [];
  const index = new Map<string, number>();
  for (const step of steps) {
    const at = index.get(step.name);
    if (at === undefined) {
      index.set(step.name, out.length);
      out.push({ name: step.name, status: step.status, count: 1 });
    } else {
      out[at].status = step.status;
      out[at].count += 1;
    }
  }
  return out;
}

function humanize(name: string): string {
  return name.replace(/([a-z])([A-Z])/g, "$1 $2");
}

function renderRuns(): void {
  show($("empty-runs"), state.runs.length === 0);
  const items = state.runs.map((run, position) => {
    const detail = state.details.get(run.run_id);
    const open = (run.status === "RUNNING" && !closedRuns.has(run.run_id)) || openRuns.has(run.run_id) ||
      (position === 0 && !closedRuns.has(run.run_id));
    const steps = detail ? collapse(detail.steps) : [];
    const details = h(
      "details",
      {
        open,
        ontoggle: (event: Event) => {
          const element = event.currentTarget as HTMLDetailsElement;
          if (element.open) {
            openRuns.add(run.run_id);
            closedRuns.delete(run.run_id);
            if (!state.details.has(run.run_id)) void refresh();
          } else {
            openRuns.delete(run.run_id);
            closedRuns.add(run.run_id);
          }
        },
      },
      h("summary", {}, detail ? `Steps (${steps.length})` : "Steps"),
      detail
        ? h(
            "ol",
            { class: "steps", "data-testid": "steps" },
            steps.map((step) =>
              h(
                "li",
                { class: `step ${step.status}`, "data-testid": "step", "data-step": step.name, "data-status": step.status },
                h("span", { class: "step-icon", "aria-hidden": "true" }, step.status === "succeeded" ? "✓" : step.status === "failed" ? "✕" : "…"),
                humanize(step.name),
                step.count > 1 ? h("small", {}, ` ×${step.count}`) : null,
                h("span", { class: "visually-hidden" }, ` (${step.status})`),
              ),
            ),
          )
        : h("p", { class: "muted" }, "Loading…"),
    );
    return h(
      "li",
      { class: `run ${run.status.toLowerCase()}`, "data-testid": "run", "data-run-id": run.run_id, "data-status": run.status },
      h(
        "div",
        { class: "run-head" },
        statusBadge(run.status),
        run.outcome && run.outcome !== run.status ? h("span", { class: `badge outcome ${run.outcome.toLowerCase()}`, "data-testid": "outcome" }, run.outcome) : null,
        h("code", { class: "run-id" }, run.run_id),
        h("span", { class: "muted" }, `${run.dataset} · ${run.trigger}`),
        run.version ? h("span", { "data-testid": "run-version" }, `v${run.version}`) : null,
        h("span", { class: "muted" }, `${formatTime(run.started_at)} · ${duration(run.started_at, run.ended_at)}`),
      ),
      run.error ? h("p", { class: "error-text", "data-testid": "run-error" }, run.error) : null,
      details,
    );
  });
  $("runs").replaceChildren(...items);
}

function renderApprovals(): void {
  const key = JSON.stringify(state.approvals.map((approval) => [approval.approval_id, approval.champion_version])) +
    JSON.stringify(state.models.map((model) => [model.version, model.metrics]));
  if (key === shownApprovals) return; // keep what the user is typing in the comment box
  shownApprovals = key;
  const body = $("approval-body");
  if (state.approvals.length === 0) {
    body.replaceChildren(h("p", { class: "empty", "data-testid": "no-approvals" }, "Nothing is waiting for approval."));
    return;
  }
  body.replaceChildren(...state.approvals.map(approvalCard));
}

function approvalCard(approval: Approval): HTMLElement {
  const challenger = state.models.find((model) => model.version === approval.version);
  const champ = state.models.find((model) => model.version === approval.champion_version);
  const commentId = `comment-${approval.approval_id}`;
  const decide = async (decision: "approve" | "reject", form: HTMLElement): Promise<void> => {
    const comment = (form.querySelector("textarea") as HTMLTextAreaElement).value;
    form.querySelectorAll("button").forEach((button) => (button.disabled = true));
    try {
      await api.post(`/runs/${encodeURIComponent(approval.run_id)}/approval`, { decision, comment });
      toast(decision === "approve" ? `v${approval.version} approved: deploying now.` : `v${approval.version} rejected: the champion keeps serving.`);
      shownApprovals = "";
      await refresh();
    } catch (error) {
      if (error instanceof ApiError && error.unauthorized) return needSignIn(session.signInHint);
      toast(`Could not ${decision} v${approval.version}: ${(error as Error).message}`, "error");
      form.querySelectorAll("button").forEach((button) => (button.disabled = false));
    }
  };
  const rows = METRICS.map((name) => {
    const mine = challenger?.metrics?.[name];
    const theirs = champ?.metrics?.[name];
    const delta = typeof mine === "number" && typeof theirs === "number" ? mine - theirs : null;
    return h(
      "tr",
      { "data-testid": `compare-${name}` },
      h("th", { scope: "row" }, METRIC_LABELS[name]),
      h("td", { class: "num", "data-testid": "challenger-value" }, metric(mine)),
      h("td", { class: "num", "data-testid": "champion-value" }, champ ? metric(theirs) : "—"),
      h(
        "td",
        { class: `num ${delta === null ? "" : delta > 0 ? "better" : delta < 0 ? "worse" : ""}` },
        delta === null ? "" : `${delta > 0 ? "▲ +" : delta < 0 ? "▼ " : ""}${delta.toFixed(3)}`,
      ),
    );
  });
  const form: HTMLElement = h(
    "form",
    { class: "decision", onsubmit: (event: Event) => event.preventDefault() },
    h("label", { for: commentId }, "Comment (optional, recorded with the decision)"),
    h("textarea", { id: commentId, rows: 2, "data-testid": "approval-comment" }),
    h(
      "div",
      { class: "buttons" },
      h("button", { type: "button", class: "primary", "data-testid": "approve", onclick: () => void decide("approve", form) }, `Accept v${approval.version}`),
      h("button", { type: "button", class: "danger", "data-testid": "reject", onclick: () => void decide("reject", form) }, `Reject v${approval.version}`),
    ),
  );
  return h(
    "article",
    { class: "approval-card", "data-testid": "approval-card", "data-version": approval.version },
    h(
      "p",
      {},
      h("strong", {}, `Challenger v${approval.version}`),
      approval.champion_version ? ` vs champion v${approval.champion_version}` : " — the first model (no champion yet)",
      h("span", { class: "muted" }, ` · run ${approval.run_id} · expires ${formatTime(approval.expires_at)}`),
    ),
    h(
      "table",
      { class: "compare", "data-testid": "compare" },
      h("caption", { class: "visually-hidden" }, "Challenger against champion"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Metric"),
          h("th", { scope: "col", class: "num" }, `Challenger v${approval.version}`),
          h("th", { scope: "col", class: "num" }, approval.champion_version ? `Champion v${approval.champion_version}` : "Champion"),
          h("th", { scope: "col", class: "num" }, "Δ"),
        ),
      ),
      h("tbody", {}, rows),
    ),
    form,
  );
}

function renderOutbox(): void {
  const section = $("outbox-section");
  show(section, Boolean(config.outbox));
  if (!config.outbox) return;
  show($("empty-outbox"), state.outbox.length === 0);
  const open = new Set(
    [...$("outbox").querySelectorAll<HTMLDetailsElement>("details[open]")].map((element) => element.dataset.id),
  );
  $("outbox").replaceChildren(
    ...state.outbox.slice(0, 30).map((message) =>
      h(
        "li",
        { "data-testid": "outbox-item", "data-kind": message.kind },
        h(
          "details",
          { open: open.has(message.id), "data-id": message.id },
          h("summary", {}, h("span", { class: "subject" }, message.subject), h("span", { class: "muted" }, ` · ${formatTime(message.date)} · to ${message.to}`)),
          h("pre", {}, message.body),
        ),
      ),
    ),
  );
}

// Actions ------------------------------------------------------------------------------------------
function confirmRollback(version: number, live: number | null): void {
  const dialog = $("rollback-dialog") as HTMLDialogElement;
  $("rollback-message").textContent =
    `Deploy v${version} again${live ? ` in place of v${live}` : ""}? The endpoint swaps blue/green with a smoke ` +
    `test; v${live ?? "?"} keeps serving until v${version} is healthy.`;
  $("rollback-confirm").textContent = `Roll back to v${version}`;
  dialog.returnValue = "";
  dialog.onclose = async () => {
    if (dialog.returnValue !== "confirm") return;
    try {
      await api.post<{ version: number; execution_arn: string }>("/rollback", { version });
      pendingRollback = { version, since: Date.now() };
      toast(`Rollback to v${version} started.`);
      await refresh();
    } catch (error) {
      if (error instanceof ApiError && error.unauthorized) return needSignIn(session.signInHint);
      toast(`Rollback to v${version} failed: ${(error as Error).message}`, "error");
    }
  };
  dialog.showModal();
}

function wireForms(): void {
  const retrain = $("retrain-form") as HTMLFormElement;
  retrain.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $("retrain") as HTMLButtonElement;
    button.disabled = true;
    const force = ($("retrain-force") as HTMLInputElement).checked;
    try {
      const answer = await api.post<{ started: boolean; run_id?: string; reason?: string }>("/runs", { force });
      toast(answer.started ? `Run ${answer.run_id} started.` : `No run started: ${answer.reason ?? "nothing to do"}.`);
      await refresh();
    } catch (error) {
      if (error instanceof ApiError && error.unauthorized) return needSignIn(session.signInHint);
      toast(`Retrain failed: ${(error as Error).message}`, "error");
    } finally {
      button.disabled = false;
    }
  });

  const predict = $("predict-form") as HTMLFormElement;
  predict.addEventListener("submit", async (event) => {
    event.preventDefault();
    const texts = ($("predict-text") as HTMLTextAreaElement).value
      .split("\n")
      .map((line) => line.trim())
      .filter(Boolean);
    const out = $("predict-result");
    const button = $("predict-submit") as HTMLButtonElement;
    if (texts.length === 0) {
      out.replaceChildren(h("p", { class: "error-text", role: "alert" }, "Enter at least one text."));
      return;
    }
    button.disabled = true;
    try {
      const answer = await api.post<PredictResponse>("/predict", { instances: texts });
      out.replaceChildren(
        h("p", {}, "Answered by ", h("strong", { "data-testid": "predict-version" }, `v${answer.model_version}`)),
        h(
          "table",
          { class: "predictions" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Text"), h("th", { scope: "col" }, "Sentiment"), h("th", { scope: "col" }, "Label"), h("th", { scope: "col", class: "num" }, "Score"))),
          h(
            "tbody",
            {},
            answer.predictions.map((prediction, index) =>
              h(
                "tr",
                { "data-testid": "prediction" },
                h("td", {}, texts[index]),
                h("td", { "data-testid": "prediction-sentiment" }, prediction.sentiment),
                h("td", { "data-testid": "prediction-label" }, prediction.label),
                h("td", { class: "num", "data-testid": "prediction-score" }, prediction.score.toFixed(3)),
              ),
            ),
          ),
        ),
      );
    } catch (error) {
      if (error instanceof ApiError && error.unauthorized) return needSignIn(session.signInHint);
      out.replaceChildren(h("p", { class: "error-text", role: "alert", "data-testid": "predict-error" }, (error as Error).message));
    } finally {
      button.disabled = false;
    }
  });
}

void boot();
