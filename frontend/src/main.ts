import "./style.css";
import { Api, ApiError } from "./api";
import { startSession, type Session } from "./auth";
import { renderCharts, type Axis } from "./charts";
import { $, h, show, toast } from "./dom";
import { parseRoute, type Route } from "./route";
import type {
  Approval,
  AuditEntry,
  BatchJob,
  Config,
  DeploymentStatus,
  Health,
  ModelVersion,
  Monitoring,
  OutboxMessage,
  PredictResponse,
  Run,
  RunDetail,
} from "./types";
import { renderAll, type View } from "./views";

const POLL_MS = Number(new URLSearchParams(location.search).get("poll") ?? "3000") || 3000;
const MAX_BACKOFF_MS = 30_000;
// An idle page (QUIET_AFTER polls in a row with nothing new: every list answered 304) polls QUIET_FACTOR times less
// often, up to QUIET_MAX_MS; anything new, or the user touching the page, brings the normal rate back at once.
const QUIET_AFTER = 10;
const QUIET_FACTOR = 5;
const QUIET_MAX_MS = 15_000;
const ROLLBACK_GIVE_UP_MS = 15 * 60_000;
// Page sizes of the paginated lists: the poll asks for the first page only ("Load more" asks for the next).
// `?page=N` sets all three (tests: a few items make several pages).
const PAGE_OVERRIDE = Number(new URLSearchParams(location.search).get("page") ?? "0") || 0;
export const PAGE = {
  models: PAGE_OVERRIDE || 50,
  runs: PAGE_OVERRIDE || 20,
  batch: PAGE_OVERRIDE || 25,
} as const;

export interface RollbackWatch {
  version: number;
  execution: string | null; // the execution's name (last part of its ARN)
  since: number;
}

export interface State {
  health: Health | null;
  models: ModelVersion[];
  runs: Run[];
  approvals: Approval[];
  outbox: OutboxMessage[];
  details: Map<string, RunDetail>;
  /** Runs whose detail the API will never give (404/410): the reason, so nobody asks again. */
  gone: Map<string, string>;
  /** Full records (with their audit trail) of the versions whose page was opened. */
  versions: Map<number, ModelVersion>;
  /** Serving health and drift (GET /monitoring); null until known, or if this API has none. */
  monitoring: Monitoring | null;
  /** The same over the last 15 minutes (the API's 5-minute windows): the live block's error rate and p99. */
  recent: Monitoring | null;
  /** The audit log (GET /audit), newest first, while the Activity page is open; null: not loaded or not allowed. */
  audit: AuditEntry[] | null;
  auditProblem: string | null;
  /** Batch scorings (GET /batch) while the Batch page is open; null: not loaded yet. */
  batches: BatchJob[] | null;
  batchProblem: string | null;
  /** What the last "Score" on the Batch page did (kept across polls until the next one). */
  batchNote: { text: string; error: boolean } | null;
  /** Pages loaded by "Load more" below the polled first page, and the cursor of the page after them. */
  older: { models: ModelVersion[]; runs: Run[]; batch: BatchJob[] };
  more: { models: string | null; runs: string | null; batch: string | null };
}

export interface Ui {
  route: Route;
  openRuns: Set<string>;
  closedRuns: Set<string>;
  deciding: Set<string>;
  rollback: RollbackWatch | null;
  rollbackFailure: string | null;
  axis: Axis;
  compare: { a: number | null; b: number | null };
  activity: { kind: string; text: string };
}

const state: State = {
  health: null,
  models: [],
  runs: [],
  approvals: [],
  outbox: [],
  details: new Map(),
  gone: new Map(),
  versions: new Map(),
  monitoring: null,
  recent: null,
  audit: null,
  auditProblem: null,
  batches: null,
  batchProblem: null,
  batchNote: null,
  older: { models: [], runs: [], batch: [] },
  more: { models: null, runs: null, batch: null },
};
/** The first pages as the API last answered them (a 304 hands back these very arrays: identity says unchanged). */
const firstPages: { models: ModelVersion[]; runs: Run[]; batch: BatchJob[] } = { models: [], runs: [], batch: [] };
const ui: Ui = {
  route: parseRoute(location.hash),
  openRuns: new Set(),
  closedRuns: new Set(),
  deciding: new Set(),
  rollback: null,
  rollbackFailure: null,
  axis: "version",
  compare: { a: null, b: null },
  activity: { kind: "all", text: "" },
};
let api: Api;
let session: Session;
let config: Config;
let timer: number | undefined;
let failures = 0; // consecutive failed polls: the retry delay doubles with each, up to MAX_BACKOFF_MS
let loaded = false;
let inflightPoll: Promise<void> | null = null;
let quiet = 0; // consecutive polls that brought nothing new
let polls = 0;
let monitoringAvailable = true; // until the API says it has no GET /monitoring
const MONITORING_EVERY = 10; // polls: hourly counters change slowly
const inflight = new Set<string>();

// Boot ---------------------------------------------------------------------------------------------
async function boot(attempt = 0): Promise<void> {
  try {
    const response = await fetch("./config.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    config = (await response.json()) as Config;
  } catch (error) {
    const delay = backoff(attempt + 1);
    unreachable(
      `The dashboard's configuration (config.json) could not be loaded (${(error as Error).message}). ` +
        `Retrying in ${Math.round(delay / 1000)}s.`,
    );
    setTimeout(() => void boot(attempt + 1), delay);
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
  wire();
  if (session.problem) return needSignIn(session.problem);
  if (!session.token()) return needSignIn(session.signInHint);
  show($("dashboard"), true);
  // A hidden tab asks nothing: the timer stops, and showing the tab again polls at once.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      window.clearTimeout(timer);
      timer = undefined;
    } else if (timer === undefined && !inflightPoll) void refresh();
  });
  await refresh();
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

function backoff(attempt: number): number {
  return Math.min(POLL_MS * 2 ** Math.max(0, attempt - 1), MAX_BACKOFF_MS);
}

// Polling ------------------------------------------------------------------------------------------
// One poll = a fixed set of requests (health, models, runs, approvals, outbox), plus the detail of running
// runs and of the page on screen. Nothing that renders ever fetches: only the timer and the user's actions do.
async function refresh(): Promise<void> {
  window.clearTimeout(timer);
  timer = undefined;
  // One poll at a time. An action's refresh waits for the poll in flight (whose answers may predate the action),
  // then asks again, so what it renders afterwards includes the action.
  while (inflightPoll) await inflightPoll;
  inflightPoll = poll();
  try {
    await inflightPoll;
  } finally {
    inflightPoll = null;
  }
}

async function poll(): Promise<void> {
  try {
    const [health, models, runs, approvals, outbox] = await Promise.all([
      api.get<Health>("/health"),
      api.page<ModelVersion>(`/models?limit=${PAGE.models}`),
      api.page<Run>(`/runs?limit=${PAGE.runs}`),
      api.get<Approval[]>("/approvals"),
      config.outbox ? api.call<OutboxMessage[]>("GET", config.outbox, undefined, true) : Promise.resolve([]),
    ]);
    // A 304 hands back the very object of the last answer: identity says "unchanged".
    const unchanged =
      health === state.health && models.items === firstPages.models && runs.items === firstPages.runs &&
      approvals === state.approvals && outbox.length === state.outbox.length && outbox[0]?.id === state.outbox[0]?.id;
    quiet = unchanged ? quiet + 1 : 0;
    firstPages.models = models.items;
    firstPages.runs = runs.items;
    Object.assign(state, {
      health,
      models: joined(models.items, state.older.models, (model) => model.version),
      runs: joined(runs.items, state.older.runs, (run) => run.run_id),
      approvals,
      outbox,
    });
    // Until "Load more" was used, the next page is the one after the first.
    if (!state.older.models.length) state.more.models = models.next;
    if (!state.older.runs.length) state.more.runs = runs.next;
    await loadBatches();
    await Promise.all([loadDetails(), loadVersion(), loadChampion(), loadMonitoring(), loadAudit(), watchRollback()]);
    polls += 1;
    failures = 0;
    loaded = true;
    unreachable(null);
    render();
    $("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    if (error instanceof ApiError && error.unauthorized) return needSignIn(session.signInHint);
    failures += 1;
    const reason = error instanceof ApiError ? error.message : String(error);
    const delay = backoff(failures + 1);
    unreachable(
      `Cannot reach the API (${reason}). ${loaded ? "Showing the last data; r" : "R"}etrying in ` +
        `${Math.round(delay / 1000)}s (attempt ${failures}). If the local cloud was restarted, it serves the ` +
        "dashboard at the same address; otherwise run `challenger local up` again.",
    );
  }
  if (document.hidden) return; // visibilitychange starts polling again
  window.clearTimeout(timer);
  timer = window.setTimeout(() => void refresh(), nextDelay());
}

function nextDelay(): number {
  if (failures) return backoff(failures + 1);
  return quiet >= QUIET_AFTER ? Math.max(POLL_MS, Math.min(POLL_MS * QUIET_FACTOR, QUIET_MAX_MS)) : POLL_MS;
}

/** The user is here: back to the normal rate now, not after the long quiet wait. */
function wake(): void {
  if (quiet < QUIET_AFTER) return;
  quiet = 0;
  if (timer !== undefined && !document.hidden) {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void refresh(), POLL_MS);
  }
}

/** The runs whose steps are on screen: running ones, the newest, the opened ones and the one being viewed. */
function wantedRuns(): Run[] {
  const route = ui.route;
  return state.runs.filter(
    (run, index) =>
      (run.status === "RUNNING" && !ui.closedRuns.has(run.run_id)) ||
      index === 0 ||
      ui.openRuns.has(run.run_id) ||
      (route.view === "run" && route.id === run.run_id),
  );
}

async function loadDetails(): Promise<void> {
  const stale = wantedRuns().filter((run) => {
    if (state.gone.has(run.run_id)) return false; // the API said it will never have it
    const known = state.details.get(run.run_id);
    // A run is closed in the registry a step before its execution ends: ask until the last step has ended too.
    const moving = known?.steps.at(-1)?.status === "entered";
    return !known || run.status === "RUNNING" || known.run.status !== run.status || moving;
  });
  await Promise.all(stale.map((run) => loadDetail(run.run_id)));
}

async function loadDetail(runId: string): Promise<void> {
  if (inflight.has(runId) || state.gone.has(runId)) return;
  inflight.add(runId);
  try {
    state.details.set(runId, await api.get<RunDetail>(`/runs/${encodeURIComponent(runId)}`));
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 410)) {
      state.gone.set(runId, error.message);
    } else if (error instanceof ApiError && error.unauthorized) {
      throw error;
    } // anything else: the next poll asks again (at the poll rate, never faster)
  } finally {
    inflight.delete(runId);
  }
}

/** The first page, then the older pages loaded by "Load more" (an item on both shows as the first page has it). */
function joined<T>(first: T[], older: T[], key: (item: T) => string | number): T[] {
  if (!older.length) return first;
  const seen = new Set(first.map(key));
  return [...first, ...older.filter((item) => !seen.has(key(item)))];
}

/** The Batch page's list (GET /batch, first page each poll with an ETag); 403/404: said on the page, not asked again. */
async function loadBatches(): Promise<void> {
  if (ui.route.view !== "batch" || state.batchProblem) return;
  try {
    const page = await api.page<BatchJob>(`/batch?limit=${PAGE.batch}`);
    if (page.items !== firstPages.batch) quiet = 0; // a batch moved: keep the busy rate while it runs
    firstPages.batch = page.items;
    state.batches = joined(page.items, state.older.batch, (job) => job.batch_id);
    if (!state.older.batch.length) state.more.batch = page.next;
  } catch (error) {
    if (error instanceof ApiError && error.unauthorized) throw error;
    if (error instanceof ApiError && (error.status === 403 || error.status === 404)) state.batchProblem = error.message;
  }
}

/** "Load more": the page after the last one shown, kept below the polled first page. */
async function loadMore(list: "models" | "runs" | "batch", button: HTMLButtonElement): Promise<void> {
  const cursor = state.more[list];
  if (!cursor) return;
  button.disabled = true;
  try {
    const path = { models: "/models", runs: "/runs", batch: "/batch" }[list];
    const page = await api.page<never>(`${path}?limit=${PAGE[list]}&cursor=${encodeURIComponent(cursor)}`);
    (state.older[list] as unknown[]).push(...page.items);
    state.more[list] = page.next;
    if (list === "models") state.models = joined(firstPages.models, state.older.models, (model) => model.version);
    else if (list === "runs") state.runs = joined(firstPages.runs, state.older.runs, (run) => run.run_id);
    else state.batches = joined(firstPages.batch, state.older.batch, (job) => job.batch_id);
    render();
  } catch (error) {
    if (error instanceof ApiError && error.unauthorized) return needSignIn(session.signInHint);
    toast(`Could not load more: ${(error as Error).message}`, "error");
  } finally {
    button.disabled = false;
  }
}

/** Score a CSV from the Batch page: POST /batch writes it under batch/, where BatchPipeline picks it up. */
async function scoreFile(form: HTMLFormElement): Promise<void> {
  const input = form.querySelector<HTMLInputElement>("input[type=file]");
  const nameField = form.querySelector<HTMLInputElement>("input[name=name]");
  const button = form.querySelector<HTMLButtonElement>("button[type=submit]");
  const file = input?.files?.[0];
  if (!button) return;
  if (!file) {
    state.batchNote = { text: "Choose a CSV file first.", error: true };
    render();
    return;
  }
  const name = (nameField?.value.trim() || file.name.replace(/\.csv$/i, "")).replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 60);
  button.disabled = true;
  try {
    const answer = await api.post<{ message: string }>("/batch", { name, csv: await file.text() });
    state.batchNote = { text: answer.message, error: false };
    await refresh();
  } catch (error) {
    if (error instanceof ApiError && error.unauthorized) return needSignIn(session.signInHint);
    state.batchNote = { text: (error as Error).message, error: true };
    render();
  } finally {
    button.disabled = false;
  }
}

/** Save a batch's scored CSV (GET /batch/{id}/result, operators only) as `<name>.out.csv`. */
async function downloadBatch(batchId: string): Promise<void> {
  const job = state.batches?.find((item) => item.batch_id === batchId);
  try {
    const file = await api.file(`/batch/${encodeURIComponent(batchId)}/result`);
    const url = URL.createObjectURL(file);
    const anchor = h("a", { href: url, download: `${job?.name ?? batchId}.out.csv`, hidden: true });
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (error) {
    if (error instanceof ApiError && error.unauthorized) return needSignIn(session.signInHint);
    toast(`Could not get the scored file: ${(error as Error).message}`, "error");
  }
}

/** Serving health changes by the hour: asked on the first poll and every MONITORING_EVERY polls after. */
async function loadMonitoring(force = false): Promise<void> {
  if (!monitoringAvailable || (!force && polls % MONITORING_EVERY !== 0)) return;
  try {
    [state.monitoring, state.recent] = await Promise.all([
      api.get<Monitoring>("/monitoring"),
      api.get<Monitoring>("/monitoring?minutes=15"),
    ]);
  } catch (error) {
    if (error instanceof ApiError && error.unauthorized) throw error;
    if (error instanceof ApiError && (error.status === 404 || error.status === 403)) monitoringAvailable = false;
  }
}

/** The champion's full record (its audit says who put it live, and why): asked again only when it changes. */
async function loadChampion(): Promise<void> {
  const live = state.health?.champion_version ?? null;
  if (live === null) return;
  const known = state.versions.get(live);
  if (known && known.status === "LIVE" && known.live_since === state.models.find((m) => m.version === live)?.live_since) return;
  try {
    state.versions.set(live, await api.get<ModelVersion>(`/models/${live}`));
  } catch (error) {
    if (error instanceof ApiError && error.unauthorized) throw error;
  }
}

/** The audit log for the Activity page (operators only: a 403 is said on the page, not retried). */
async function loadAudit(): Promise<void> {
  if (ui.route.view !== "activity" || state.auditProblem) return;
  try {
    state.audit = (await api.get<{ entries: AuditEntry[] }>("/audit?limit=200")).entries;
  } catch (error) {
    if (error instanceof ApiError && error.unauthorized) throw error;
    if (error instanceof ApiError && (error.status === 403 || error.status === 404)) state.auditProblem = error.message;
  }
}

/** The version page's full record: its audit trail comes with it (GET /models/{version}). */
async function loadVersion(): Promise<void> {
  const route = ui.route;
  if (route.view !== "version") return;
  try {
    state.versions.set(route.version, await api.get<ModelVersion>(`/models/${route.version}`));
  } catch (error) {
    if (error instanceof ApiError && error.unauthorized) throw error;
  }
}

/** A rollback in flight: ask its execution how it ended; a failure clears the banner and says why. */
async function watchRollback(): Promise<void> {
  const watch = ui.rollback;
  if (!watch) return;
  const live = state.health?.champion_version ?? null;
  let status: DeploymentStatus | null = null;
  if (watch.execution) {
    try {
      status = await api.get<DeploymentStatus>(`/deployments/${encodeURIComponent(watch.execution)}`);
    } catch (error) {
      if (error instanceof ApiError && error.unauthorized) throw error;
      if (error instanceof ApiError && error.status === 404) watch.execution = null; // an API without the route
    }
  }
  if (status?.status === "SUCCEEDED" || (!status && live === watch.version)) {
    toast(`v${watch.version} is live again.`);
    ui.rollback = null;
  } else if (status && status.status !== "RUNNING") {
    ui.rollback = null;
    ui.rollbackFailure =
      `Rollback to v${watch.version} failed: ${status.cause || status.error || status.status}. ` +
      (live ? `v${live} keeps serving.` : "");
  } else if (Date.now() - watch.since > ROLLBACK_GIVE_UP_MS) {
    ui.rollback = null;
    ui.rollbackFailure = `Rollback to v${watch.version} did not finish within 15 minutes; see the notifications.`;
  }
}

// Rendering ----------------------------------------------------------------------------------------
function render(): void {
  const view: View = { state, ui, config };
  renderAll(view);
  showExample();
  if (ui.route.view === "overview") {
    const withMetrics = state.models.some((model) => Object.keys(model.metrics ?? {}).length > 0);
    show($("chart-legend"), withMetrics);
    show($("charts"), withMetrics);
    if (withMetrics) {
      renderCharts($("charts"), state.models, state.health?.champion_version ?? null, ui.axis, state.health?.policy?.primary_metric ?? null);
    }
  }
}

function navigate(): void {
  const next = parseRoute(location.hash);
  if (JSON.stringify(next) === JSON.stringify(ui.route)) return;
  ui.route = next;
  if (next.view === "compare") ui.compare = { a: next.a, b: next.b };
  render();
  window.scrollTo(0, 0);
  focusPage();
  // A page with data the poll does not already bring (a run's steps, the audit log): fetch it now, once.
  void (async () => {
    if (next.view === "run") await loadDetail(next.id);
    if (next.view === "version") await loadVersion();
    if (next.view === "activity") await loadAudit();
    if (next.view === "monitoring") await loadMonitoring(true);
    if (next.view === "batch") await loadBatches();
    render();
  })().catch(() => undefined);
}

/** Move focus to the page's heading (rendered focusable, so a poll's morph keeps it): never left on <body>. */
function focusPage(): void {
  const heading = document.querySelector<HTMLElement>(
    ui.route.view === "overview" ? "#main" : "[data-testid=detail] [data-testid=detail-title]",
  );
  if (ui.route.view === "overview") heading?.setAttribute("tabindex", "-1");
  heading?.focus({ preventScroll: ui.route.view !== "overview" });
}

/** After a decision removed the focused button: the approvals' heading (or the detail page's). */
function focusAfterDecision(now = false): void {
  const active = document.activeElement;
  if (!now && active && active !== document.body && active.isConnected) return;
  const target =
    ui.route.view === "overview"
      ? document.getElementById("approval-title")
      : document.querySelector<HTMLElement>("[data-testid=detail] [data-testid=detail-title]");
  target?.focus();
}

// Actions (delegated: one listener each, so re-rendered elements need none) ------------------------------
function wire(): void {
  window.addEventListener("hashchange", navigate);
  for (const kind of ["pointerdown", "keydown", "focusin"]) document.addEventListener(kind, wake, true);
  document.addEventListener("click", (event) => {
    // The skip link goes to this page's content; following #main would route to the overview.
    if ((event.target as HTMLElement).closest(".skip")) {
      event.preventDefault();
      focusPage();
      return;
    }
    const target = (event.target as HTMLElement).closest<HTMLElement>("[data-action]");
    if (target) {
      const action = target.dataset.action;
      if (action === "rollback") confirmRollback(Number(target.dataset.version));
      else if (action === "approve" || action === "reject") void decide(target, action);
      else if (action === "dismiss-rollback-failure") {
        ui.rollbackFailure = null;
        render();
      } else if (action === "load-more") {
        const list = target.dataset.list;
        if (list === "models" || list === "runs" || list === "batch") void loadMore(list, target as HTMLButtonElement);
      } else if (action === "batch-download") {
        void downloadBatch(target.dataset.batch ?? "");
      } else if (action === "compare") {
        const { a, b } = ui.compare;
        if (a !== null && b !== null) location.hash = `#/compare/${a}/${b}`;
      }
      return;
    }
    // Opening a run's steps by hand fetches them once now, instead of at the next poll.
    const summary = (event.target as HTMLElement).closest<HTMLElement>("summary[data-run]");
    if (summary) {
      const runId = summary.dataset.run as string;
      const details = summary.parentElement as HTMLDetailsElement;
      if (!details.open && !state.details.has(runId)) {
        void loadDetail(runId).then(render, () => undefined);
      }
    }
  });
  // <details> toggles (user or render): remember the state; never fetch from here.
  document.addEventListener(
    "toggle",
    (event) => {
      const element = event.target as HTMLElement;
      if (!(element instanceof HTMLDetailsElement) || !element.dataset.run) return;
      const runId = element.dataset.run;
      if (element.open) {
        ui.openRuns.add(runId);
        ui.closedRuns.delete(runId);
      } else {
        ui.openRuns.delete(runId);
        ui.closedRuns.add(runId);
      }
    },
    true,
  );
  document.addEventListener("change", (event) => {
    const target = event.target as HTMLInputElement | HTMLSelectElement;
    if (target.dataset.action === "activity-kind") {
      ui.activity.kind = target.value;
      render();
    } else if (target.dataset.action === "axis") {
      ui.axis = target.value === "time" ? "time" : "version";
      render();
    } else if (target.dataset.action === "compare-a" || target.dataset.action === "compare-b") {
      const value = target.value ? Number(target.value) : null;
      if (target.dataset.action === "compare-a") ui.compare.a = value;
      else ui.compare.b = value;
      render();
    }
  });

  document.addEventListener("input", (event) => {
    const target = event.target as HTMLInputElement;
    if (target.dataset.action === "activity-text") {
      ui.activity.text = target.value;
      render();
    }
  });

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

  // The Batch page's upload form is rendered into the page: one delegated listener.
  document.addEventListener("submit", (event) => {
    const form = event.target as HTMLFormElement;
    if (form.dataset.action !== "score-file") return;
    event.preventDefault();
    void scoreFile(form);
  });

  ($("predict-form") as HTMLFormElement).addEventListener("submit", (event) => {
    event.preventDefault();
    void predict();
  });
}

async function decide(button: HTMLElement, decision: "approve" | "reject"): Promise<void> {
  const card = button.closest<HTMLElement>("[data-approval]");
  if (!card) return;
  const approval = state.approvals.find((item) => item.approval_id === card.dataset.approval);
  if (!approval || ui.deciding.has(approval.approval_id)) return;
  const comment = card.querySelector("textarea")?.value ?? "";
  ui.deciding.add(approval.approval_id);
  render();
  try {
    await api.post(`/runs/${encodeURIComponent(approval.run_id)}/approval`, { decision, comment });
    toast(decision === "approve" ? `v${approval.version} approved: deploying now.` : `v${approval.version} rejected: the champion keeps serving.`);
    focusAfterDecision(true); // the card is going away with its buttons: focus its heading now, not <body> later
    await refresh();
  } catch (error) {
    if (error instanceof ApiError && error.unauthorized) return needSignIn(session.signInHint);
    toast(`Could not ${decision} v${approval.version}: ${(error as Error).message}`, "error");
  } finally {
    ui.deciding.delete(approval.approval_id);
    render();
    focusAfterDecision();
  }
}

function confirmRollback(version: number): void {
  if (ui.rollback) return; // one at a time: the buttons are disabled too
  const live = state.health?.champion_version ?? null;
  const dialog = $("rollback-dialog") as HTMLDialogElement;
  const forward = live !== null && version > live;
  $("rollback-title").textContent = forward ? `Deploy v${version} again?` : "Roll back?";
  $("rollback-message").textContent =
    `Deploy v${version} again${live ? ` in place of v${live}` : ""}? The endpoint swaps blue/green with a smoke ` +
    `test; v${live ?? "?"} keeps serving until v${version} is healthy.`;
  $("rollback-confirm").textContent = forward ? `Deploy v${version}` : `Roll back to v${version}`;
  dialog.returnValue = "";
  const reasonField = $("rollback-reason") as HTMLTextAreaElement;
  reasonField.value = "";
  dialog.onclose = async () => {
    if (dialog.returnValue !== "confirm") return;
    const reason = reasonField.value.trim();
    ui.rollbackFailure = null;
    ui.rollback = { version, execution: null, since: Date.now() };
    render();
    $("deploying").focus(); // the dialog's opener is disabled now: the banner says what happens
    try {
      const started = await api.post<{ version: number; execution_arn: string }>("/rollback", { version, reason });
      ui.rollback.execution = started.execution_arn.split(":").pop() ?? null;
      toast(`${forward ? "Deployment" : "Rollback"} of v${version} started.`);
      await refresh();
    } catch (error) {
      ui.rollback = null;
      if (error instanceof ApiError && error.unauthorized) return needSignIn(session.signInHint);
      ui.rollbackFailure = `Rollback to v${version} was refused: ${(error as Error).message}`;
      render();
    }
  };
  dialog.showModal();
}

/** The recipe's example instances in the inference form, one per line (a record as JSON), until the user types. */
function showExample(): void {
  const input = $("predict-text") as HTMLTextAreaElement;
  const example = state.health?.prediction?.example ?? [];
  if (!example.length || input.dataset.edited || input.dataset.example) return;
  input.value = example.map((item) => (typeof item === "string" ? item : JSON.stringify(item))).join("\n");
  input.dataset.example = "recipe";
  input.addEventListener("input", () => (input.dataset.edited = "yes"), { once: true });
}

/** A line of the form as an instance: a JSON object is a record, anything else a bare value (the shorthand). */
function instanceOf(line: string): unknown {
  if (!line.startsWith("{")) return line;
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return line;
  }
}

async function predict(): Promise<void> {
  const texts = ($("predict-text") as HTMLTextAreaElement).value
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
  const out = $("predict-result");
  const button = $("predict-submit") as HTMLButtonElement;
  if (texts.length === 0) {
    out.replaceChildren(h("p", { class: "error-text", role: "alert" }, "Enter at least one input."));
    return;
  }
  button.disabled = true;
  try {
    const answer = await api.post<PredictResponse>("/predict", { instances: texts.map(instanceOf) });
    const fields = [...new Set(answer.predictions.flatMap((prediction) => Object.keys(prediction)))];
    const scoreText = state.health?.prediction?.score ?? state.health?.recipe?.prediction?.score ?? null;
    const heading = (field: string): HTMLElement =>
      field === "score"
        ? h("th", { scope: "col", class: "num", "data-testid": "score-heading" }, scoreText ? `Score: ${scoreText}` : "Score")
        : h("th", { scope: "col" }, field.replace(/_/g, " "));
    out.replaceChildren(
      h("p", {}, "Answered by ", h("strong", { "data-testid": "predict-version" }, `v${answer.model_version}`)),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "predictions" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Input"), fields.map(heading))),
          h(
            "tbody",
            {},
            answer.predictions.map((prediction, index) =>
              h(
                "tr",
                { "data-testid": "prediction" },
                h("td", { class: "input" }, texts[index]),
                fields.map((field) => {
                  const value = prediction[field];
                  return h(
                    "td",
                    { class: typeof value === "number" ? "num" : "", "data-testid": `prediction-${field}` },
                    typeof value === "number" && field === "score" ? value.toFixed(3) : String(value ?? ""),
                  );
                }),
              ),
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
}

void boot();
