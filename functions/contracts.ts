/**
 * The contracts between the state machines (pipeline/), their Lambda handlers (functions/) and the
 * serving containers: the JSON each Task sends and gets back. The CDK definitions, the handlers and the
 * local runtime all import these types, so a renamed field breaks the build instead of a run.
 *
 * Every run lives under `s3://<data bucket>/runs/<runId>/`; `runId` is the CodePipeline execution id.
 */

/**
 * The upload that started a run (recorded in the run, shown in the history). In the workflows' input the
 * key is URI-encoded, as the pipeline variable carries it (functions/core/run-layout.ts,
 * `encodeTriggerKey`); run.json, summary.json and the local history hold it decoded.
 */
export interface RunTrigger {
  /** S3 key of the uploaded batch, or 'manual' when the pipeline was started by hand. */
  readonly key: string;
  /** S3 version id of that object (the data bucket is versioned), or 'unknown'. */
  readonly versionId: string;
}

/**
 * Per-attempt names of the SageMaker resources (`<prefix>-<kind>-<runId>-<attempt>`). All <= 63
 * characters, `[a-zA-Z0-9-]`.
 */
export interface RunNames {
  readonly fmJob: string;
  readonly knnJob: string;
  /** The hosting model (the endpoint's): its execution role reads the model artifacts only. */
  readonly model: string;
  /**
   * The same containers as `model`, with the transform role (which may write the transform output): the
   * candidate's batch transform runs on it. A SageMaker model has one execution role.
   */
  readonly transformModel: string;
  /** Production's containers (DescribeModel of the production model) with the transform role. */
  readonly productionTransformModel: string;
  readonly candidateTransformJob: string;
  readonly productionTransformJob: string;
  /**
   * `<prefix>-config-<runId>`: each deploy attempt names its endpoint config `<this>-<8 hex characters>`
   * (pipeline/deploy-workflow.ts), so a retried Deploy stage creates a new one.
   */
  readonly endpointConfigPrefix: string;
}

/** S3 URIs (`s3://bucket/key`) of a run's inputs and outputs. Prefixes end with `/`. */
export interface RunUris {
  readonly prefix: string;
  readonly train: string;
  readonly test: string;
  readonly transformInput: string;
  readonly fmOutput: string;
  readonly knnTrain: string;
  readonly knnOutput: string;
  readonly servingBundle: string;
  readonly candidateTransformOutput: string;
  readonly productionTransformOutput: string;
  readonly evaluation: string;
}

/** Input of the retrain state machine (the CodePipeline Step Functions action's literal input). */
export interface RetrainInput {
  readonly runId: string;
  /** As the pipeline variables carry it: the key URI-encoded. */
  readonly trigger: RunTrigger;
}

/** Result of the Prepare task (stored at `$.prepared`) when there is a candidate to train. */
export interface PrepareResult {
  readonly runId: string;
  /** This attempt's suffix of the names (from the Step Functions execution name). */
  readonly attempt: string;
  readonly names: RunNames;
  readonly uris: RunUris;
  /**
   * CreateTrainingJob HyperParameters, every value a string; feature_dim filled in. `ials` only with
   * `ml.trainer` 'ials' (the TrainIALS job's).
   */
  readonly hyperparameters: {
    readonly fm: Record<string, string>;
    readonly knn: Record<string, string>;
    readonly ials?: Record<string, string>;
  };
  readonly counts: {
    readonly ratings: number;
    readonly users: number;
    readonly movies: number;
    readonly trainExamples: number;
    readonly testExamples: number;
    readonly testUsers: number;
  };
  /**
   * The batches this run trained on and the ones it left out (quarantined now or before, withdrawn);
   * the details are in `runs/<runId>/lineage.json`. Always set by Prepare (optional only for results
   * recorded before lineage existed).
   */
  readonly batches?: { readonly trained: number; readonly excluded: number };
  /**
   * The FM training job's instance count: the configured `training.fmInstanceCount`, cut to the number
   * of train shards (ShardedByS3Key gives an instance without a file no data; it is billed all the same).
   */
  readonly training: { readonly fmInstanceCount: number };
}

/**
 * Result of the Prepare task when `ratings/` holds no rating file yet (the run CodePipeline starts when
 * the stack is created): the workflow ends NothingToDo, Approve and Deploy have nothing to act on.
 */
export interface NothingToDoResult {
  readonly runId: string;
  readonly nothingToDo: true;
  readonly reason: string;
}

/** What the Prepare task returns. */
export type PrepareOutcome = PrepareResult | NothingToDoResult;

/** Result of the BuildVectors task (stored at `$.vectors`). */
export interface BuildVectorsResult {
  /** Prefix of the k-NN training data (dense recordIO, label = movie id or tag label). */
  readonly knnTrain: string;
  /** The serving bundle (model data of the pre/post containers). */
  readonly servingBundle: string;
  readonly dim: number;
  readonly tagBits: number;
  readonly users: number;
  readonly movies: number;
  /** The k-NN training job's instance count: the configured one, cut to the k-NN train files written. */
  readonly knnInstanceCount: number;
}

/** What the deploy workflow writes to the production record (SSM parameter, JSON). */
export interface ProductionRecord {
  readonly runId: string;
  readonly modelName: string;
  readonly endpointConfigName: string;
  readonly deployedAt: string;
  /** The candidate's metrics when it was evaluated (e.g. `ndcg@10`). */
  readonly metrics: Record<string, number>;
  /**
   * Set when this version serves again through a rollback (`reelflow rollback`): the rollback's id, whose
   * record is `runs/<runId>/rollbacks/<rollbackId>.json`. Absent after a pipeline deployment.
   */
  readonly rollbackId?: string;
}

/** Result of the Evaluate task (stored at `$.evaluation`); the Gate state reads `gate.passed`. */
export interface EvaluateResult {
  readonly gate: { readonly passed: boolean; readonly reasons: string[] };
  /** Plain-text summary for the approver (<= 500 characters, CodePipeline's CustomData limit). */
  readonly approvalText: string;
  readonly evaluationUri: string;
  readonly reportUri: string;
  readonly summaryUri: string;
  readonly primaryMetric: {
    readonly name: string;
    readonly candidate: number | null;
    readonly production: number | null;
  };
}

/**
 * `runs/<runId>/evaluation/summary.json`: what the approval step shows and the deploy workflow reads.
 * Written by Evaluate; the deploy workflow refuses a candidate whose gate did not pass.
 */
export interface RunSummary {
  readonly runId: string;
  readonly trigger: RunTrigger;
  readonly names: RunNames;
  readonly gate: { readonly passed: boolean; readonly reasons: string[] };
  readonly approvalText: string;
  readonly candidateMetrics: Record<string, number>;
  readonly productionMetrics: Record<string, number> | null;
  readonly productionRunId: string | null;
  readonly reportUri: string;
  readonly evaluationUri: string;
}

/**
 * `runs/<runId>/evaluation/summary.json` of a run that found nothing to do (written by Prepare): the
 * approval says so, and the deploy workflow ends NothingToDeploy.
 */
export interface NothingToDoSummary {
  readonly runId: string;
  readonly trigger: RunTrigger;
  readonly nothingToDo: true;
  readonly reason: string;
  readonly approvalText: string;
  /** The run's run.json (what the approval links). */
  readonly reportUri: string;
}

/**
 * The outcome a deploy run records in `runs/<runId>/deployment.json`, a rollback in
 * `runs/<runId>/rollbacks/<id>.json` (and SSM when deployed).
 */
export interface DeploymentRecord {
  readonly runId: string;
  /**
   * `stale-baseline`: rejected before touching the endpoint, as the production version the candidate
   * was evaluated against is no longer the one serving (`reason` names both).
   */
  readonly outcome: 'deployed' | 'rolled-back' | 'failed' | 'stale-baseline';
  readonly endpointName: string;
  readonly endpointConfigName: string;
  /** The config serving after the deployment (the old one after a rollback). */
  readonly servingConfigName: string | null;
  readonly reason: string | null;
  /** Alarms in ALARM state when the outcome was decided. */
  readonly alarms: string[];
  readonly recordedAt: string;
  /**
   * Set on a rollback's record (`runs/<runId>/rollbacks/<id>.json`; `runs/<runId>/deployment.json` stays
   * the record of the run's own deployment): the rollback `id` (its execution name), the run id serving
   * when it was asked (`from`; null if none served), the run it puts back (`to`, = runId), and the
   * operator's `reason` and name (null when not given).
   */
  readonly rollback?: {
    readonly id: string;
    readonly from: string | null;
    readonly to: string;
    readonly reason: string | null;
    readonly requestedBy: string | null;
  };
}

/**
 * One line of the post container's answer (content type application/jsonlines), one per requested
 * user. `fallback` is set when the version does not know the user and answered its popular movies.
 */
export interface ServedRecommendation {
  readonly user_id: number;
  readonly movies: number[];
  readonly modelVersion: string;
  readonly fallback?: 'popular';
}

/** The recommend API's 200 body: both shapes the movie app has used, best match first. */
export interface RecommendResponse {
  readonly movies: number[];
  readonly itemList: { readonly itemId: string }[];
  readonly modelVersion: string;
  readonly fallback?: 'popular';
}

/**
 * Content types on the serving path (see docs/architecture.md, "The serving path's wire formats"):
 * pre answers `application/json` (k-NN's documented JSON request), k-NN answers the documented
 * `application/json; verbose=true`, post reads that JSON (whatever Content-Type header reaches it) and
 * answers JSON lines.
 */
export const SERVING_CONTENT_TYPES = {
  /**
   * What callers send to the endpoint: `{"user_id": N}`; the batch transform sends one record per line
   * of its input, each `{"instances":[{"user_id": N}, ...]}` for a block of users.
   */
  request: 'application/json',
  batchRequest: 'application/json',
  /**
   * The Accept of every hop that may reach the built-in k-NN: its container's
   * SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT, the recommend Lambda's and the batch transform's Accept. It is
   * the one documented verbose JSON type (kNN-inference-formats), so k-NN answers the verbose form
   * whether SageMaker hands it the caller's Accept or its default; post ignores Accept.
   * (`application/jsonlines; verbose=true` is undocumented; the built-in's reply to it is not a contract.)
   */
  accept: 'application/json; verbose=true',
  /** What the post container, and so the endpoint, answers. */
  response: 'application/jsonlines',
} as const;
