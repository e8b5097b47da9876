// The console API's shapes (functions/api, /v1/console).

export type ModelStatus =
  | "TRAINING" | "STAGED" | "REJECTED" | "APPROVED" | "DEPLOYING" | "LIVE" | "RETIRED" | "FAILED";
export type RunStatus = "RUNNING" | "SUCCEEDED" | "FAILED";

export const METRICS = ["accuracy", "precision", "recall", "f1", "roc_auc"] as const;
export type Metric = (typeof METRICS)[number];
export const METRIC_LABELS: Record<Metric, string> = {
  accuracy: "Accuracy",
  precision: "Precision",
  recall: "Recall",
  f1: "F1",
  roc_auc: "ROC AUC",
};

export interface ModelVersion {
  version: number;
  status: ModelStatus;
  metrics: Partial<Record<Metric, number>>;
  dataset: string;
  created_at: string;
  failure_reason?: string | null;
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
}

export interface Step {
  name: string;
  status: "entered" | "succeeded" | "failed";
}

export interface RunDetail {
  run: Run;
  steps: Step[];
}

export interface Approval {
  approval_id: string;
  run_id: string;
  version: number;
  expires_at: string;
  champion_version: number | null;
}

export interface Health {
  status: string;
  champion_version: number | null;
}

export interface Prediction {
  label: number;
  sentiment: string;
  score: number;
}

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
