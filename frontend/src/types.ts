// The console API's shapes (functions/api, /v1/console). Fields marked optional appear as the API grows them:
// the dashboard shows each one as soon as it is there, and says "not recorded" until then.

export type ModelStatus =
  | "TRAINING" | "STAGED" | "REJECTED" | "APPROVED" | "DEPLOYING" | "LIVE" | "RETIRED" | "FAILED";
export type RunStatus = "RUNNING" | "SUCCEEDED" | "FAILED";

/** Nicer names for metrics we know; any other metric a recipe reports is shown under its own name. */
export const METRIC_LABELS: Record<string, string> = {
  accuracy: "Accuracy",
  precision: "Precision",
  recall: "Recall",
  f1: "F1",
  roc_auc: "ROC AUC",
  rmse: "RMSE",
  mae: "MAE",
  r2: "R²",
  log_loss: "Log loss",
};

export function metricLabel(name: string): string {
  return METRIC_LABELS[name] ?? name.replace(/_/g, " ");
}

export interface EvalSet {
  fingerprint: string;
  rows: number;
}

export interface MetricDifference {
  delta: number;
  low: number;
  high: number;
}

export interface PairedComparison {
  champion_version?: number | null;
  champion_artifact_sha256?: string;
  rows: number;
  fingerprint: string;
  champion_metrics: Record<string, number>;
  challenger_metrics: Record<string, number>;
  differences: Record<string, MetricDifference>;
  confidence: number;
  method?: string;
  excluded_champion_training_rows?: number;
}

export interface RuleOutcome {
  rule: string;
  metric?: string | null;
  passed: boolean;
  detail: string;
}

export interface MetricComparison {
  name: string;
  challenger: number;
  champion?: number | null;
  delta?: number | null;
  low?: number | null;
  high?: number | null;
  direction?: "higher" | "lower";
  role?: string;
  passed?: boolean | null;
}

/** The promotion policy's verdict on a challenger, rule by rule (CompareWithChampion). */
export interface Verdict {
  promote: boolean;
  rules?: RuleOutcome[];
  decided_by?: string;
  comparisons?: MetricComparison[];
  champion_version?: number | null;
  confidence?: number | null;
  paired_rows?: number | null;
  reasons?: string[];
  /** The shadow stage before the swap (issue 23): what the challenger did on real requests; its rules are in `rules`. */
  shadow?: ShadowMeasurement | null;
  shadow_note?: string;
}

export interface ShadowMeasurement {
  requests: number;
  champion_errors: number;
  shadow_errors: number;
  shadow_errors_by_kind: Record<string, number>;
  latency_pairs: number;
  champion_p50_ms?: number | null;
  champion_p99_ms?: number | null;
  shadow_p50_ms?: number | null;
  shadow_p99_ms?: number | null;
  compared: number;
  agreed: number;
  disagreement: { slice: string; value: string; requests: number; disagreed: number }[];
}

export interface ModelVersion {
  version: number;
  status: ModelStatus;
  metrics: Record<string, number>;
  dataset: string;
  created_at: string;
  updated_at?: string;
  run_id?: string;
  data_fingerprint?: string;
  training_job_name?: string;
  model_data_url?: string | null;
  confusion_matrix?: number[][];
  /** GET /models/{version}: what the run that trained it cost on AWS. */
  run_cost?: RunCost | null;
  model_name?: string | null;
  endpoint_config_name?: string | null;
  failure_reason?: string | null;
  was_live?: boolean;
  live_since?: string | null;
  eval_set?: EvalSet | null;
  comparison?: PairedComparison | null;
  /** Its figures on the dataset's trusted evaluation set (issue 19): comparable across versions of one set version. */
  trusted?: { set_version?: number | null; rows: number; metrics: Record<string, number> } | null;
  hyperparameters?: Record<string, string>;
  n_train?: number | null;
  n_test?: number | null;
  train_rows?: number | null;
  test_rows?: number | null;
  training_seconds?: number | null;
  artifact_sha256?: string | null;
  verdict?: Verdict | null;
  /** GET /models/{version} only: the decisions about this version (operator doors). */
  audit?: AuditEntry[] | null;
}

/** What a run cost on AWS (challenger_core.cost): pinned us-east-1 list prices of `prices_as_of`. */
export interface RunCost {
  total_usd: number;
  training_usd?: number | null;
  instance_type?: string | null;
  billable_seconds?: number | null;
  spot?: boolean;
  lambda_invocations: number;
  lambda_gb_seconds: number;
  lambda_usd: number;
  state_transitions: number;
  step_functions_usd: number;
  prices_as_of: string;
  priced_region: string;
  region?: string | null;
}

export interface Run {
  run_id: string;
  status: RunStatus;
  outcome?: string | null;
  dataset: string;
  trigger: string;
  version?: number | null;
  error?: string | null;
  started_at: string;
  ended_at?: string | null;
  cost?: RunCost | null;
}

export interface Step {
  name: string;
  status: "entered" | "succeeded" | "failed";
  entered_at?: string | null;
  exited_at?: string | null;
}

export interface RunDetail {
  run: Run;
  steps: Step[];
  /** The pipeline's states in order (the ASL's main path), when the API provides it. */
  plan?: string[];
  /** The decisions about this run, newest first (operator doors). */
  audit?: AuditEntry[] | null;
  verdict?: Verdict | null;
  /** The whole run's cost (training, Lambda, Step Functions), from its execution history. */
  cost?: RunCost | null;
}

export interface Approval {
  approval_id: string;
  run_id: string;
  version: number;
  expires_at: string;
  champion_version: number | null;
  verdict?: Verdict | null;
}

export interface PromotionPolicy {
  approval_mode: string;
  primary_metric: string;
  min_improvement: number;
  floor_metric: string;
  metric_floor: number;
  guardrail_metrics: string[];
  guardrail_tolerance: number;
  promotion_confidence?: number | null;
  /** metric → "higher" or "lower" is better (the recipe's). */
  directions?: Record<string, string>;
  recipe?: string;
}

/** GET /monitoring: one version's serving over the window. */
export interface ServingVersion {
  version: number;
  invocations: number;
  errors: number;
  error_rate: number;
  p50_ms: number | null;
  p90_ms: number | null;
  p99_ms: number | null;
  /** What the window's requests cost (API Gateway, the API function, the endpoint's GB-seconds), us-east-1 prices. */
  cost_usd?: number | null;
}

export interface DriftReport {
  version: number;
  checked_at: string;
  samples: number;
  threshold: number;
  drifts?: { feature?: string; statistic?: string; psi: number; samples?: number }[];
  skipped?: string | null;
}

export interface ServingHour {
  version: number;
  hour: string; // 2026-12-01T18 (UTC)
  invocations: number;
  errors: number;
  /** That hour's latency percentiles (ms, bucket upper bounds; null above the last bound or with no requests). */
  p50_ms?: number | null;
  p99_ms?: number | null;
}

/** One batch file's scoring (GET /batch), as BatchPipeline's steps recorded it. */
export interface BatchJob {
  batch_id: string;
  name: string;
  input_uri: string;
  input_version?: string | null;
  status: "RUNNING" | "SUCCEEDED" | "FAILED";
  received_at: string;
  updated_at: string;
  rows?: number | null;
  version?: number | null;
  job_name?: string | null;
  output_uri?: string | null;
  failure_reason?: string | null;
}

export interface Monitoring {
  since_hour: string;
  versions: ServingVersion[];
  hourly?: ServingHour[];
  drift?: DriftReport[];
  drift_threshold?: number;
}

export interface EndpointHealth {
  name: string;
  /** DescribeEndpoint's EndpointStatus, or Missing / Unknown. */
  status: string;
  reason?: string | null;
}

export interface Health {
  /** "ok", or "degraded" when a champion is recorded but its endpoint cannot serve. */
  status: string;
  champion_version: number | null;
  endpoint?: EndpointHealth | null;
  policy?: PromotionPolicy;
  /** What the recipe's prediction fields mean, e.g. score: "probability of the positive class (positive)". */
  prediction?: {
    score?: string;
    fields?: Record<string, string>;
    /** Class names in the recipe's order: the confusion matrix's rows and columns. */
    class_names?: string[];
    /** Instances the inference form starts with (recipe.json request.example): records, or bare shorthand values. */
    example?: unknown[];
  } | null;
  recipe?: { name?: string; prediction?: { score?: string } } | null;
}

export interface DeploymentStatus {
  execution_arn: string;
  status: "RUNNING" | "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "ABORTED" | "PENDING_REDRIVE";
  error?: string | null;
  cause?: string | null;
}

export interface AuditEntry {
  audit_id: string;
  at: string;
  action: string;
  actor: string;
  via?: string;
  comment?: string;
  run_id?: string | null;
  version?: number | null;
  detail?: string;
}

export type Prediction = Record<string, unknown> & { label?: unknown; score?: number };

export interface PredictResponse {
  predictions: Prediction[];
  model_version: number;
}

export interface OutboxMessage {
  id: string;
  subject: string;
  kind: string;
  date: string;
  to: string;
  body: string;
}

export interface LocalAuth {
  mode: "local";
}
export interface CognitoAuth {
  mode: "cognito";
  region: string;
  userPoolId: string;
  clientId: string;
  domain: string;
}
export interface Config {
  apiBase: string;
  auth: LocalAuth | CognitoAuth;
  outbox?: string;
  stage?: string;
}
