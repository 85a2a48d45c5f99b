/**
 * Where a run's resources live and what they are called: the SageMaker resource names of a run attempt,
 * the S3 layout under `runs/<runId>/`, and the trigger key as the pipeline variable carries it. Used by
 * the Prepare handler (which hands the names to every later state), start-run, the deploy workflow's
 * readers, the local runtime and the docs.
 *
 * The S3 layout is per run, not per attempt: a retried stage writes the same keys again.
 */
import { createHash } from 'node:crypto';
import type { RunNames, RunUris } from '../contracts';

/** SageMaker names: 1-63 characters, alphanumerics and hyphens, starting and ending alphanumeric. */
const NAME = /^[a-zA-Z0-9](-*[a-zA-Z0-9])*$/;
const MAX_NAME = 63;

/** Thrown for a run id or prefix that cannot name SageMaker resources. */
export class RunLayoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunLayoutError';
  }
}

/** The longest kind a resource name adds between the prefix and the run tag (`-evalprod-`). */
const LONGEST_KIND = '-evalprod-';

/** Length of the attempt suffix: hex characters of the SHA-256 of the Step Functions execution name. */
export const ATTEMPT_LENGTH = 6;

/**
 * Characters the deploy workflow appends to `names.endpointConfigPrefix` for its own attempt: a hyphen and
 * the first group of a UUID (8 hex characters; see pipeline/deploy-workflow.ts, NameEndpointConfig).
 */
export const DEPLOY_ATTEMPT_SUFFIX_LENGTH = 9;

/** The shortest run tag a name keeps when a long prefix leaves no room for the whole run id. */
const MIN_RUN_TAG = 8;

/**
 * The attempt of a run: the first ATTEMPT_LENGTH hex characters of the SHA-256 of the Step Functions
 * execution name. A CodePipeline stage Retry keeps the pipeline execution id (the run id) but starts a new
 * execution (`<prefix>-<actionExecutionId>`), so every attempt names its SageMaker resources afresh.
 */
export function attemptOf(executionName: string): string {
  if (executionName.length === 0) throw new RunLayoutError('the execution name is empty');
  return createHash('sha256').update(executionName).digest('hex').slice(0, ATTEMPT_LENGTH);
}

/**
 * Per-attempt SageMaker names: `<prefix>-fm-<runTag>-<attempt>`, ... (the hosting model `-model-`, the
 * transform models `-tmodel-` and `-tmodelp-`, see RunNames) and the endpoint config prefix
 * `<prefix>-config-<runTag>`, to which the deploy workflow appends its own attempt. The run tag is the run
 * id, cut (never below MIN_RUN_TAG characters) only when a long prefix would push a name past 63
 * characters: a CodePipeline execution id (36 characters) stays whole up to a 10-character prefix.
 * Nothing is ever named twice, so a retried stage never meets "already exists".
 */
export function runNames(runId: string, prefix: string, attempt: string): RunNames {
  const name = namer(runId, prefix, attempt);
  return {
    fmJob: name('fm'),
    knnJob: name('knn'),
    model: name('model'),
    transformModel: name('tmodel'),
    productionTransformModel: name('tmodelp'),
    candidateTransformJob: name('eval'),
    productionTransformJob: name('evalprod'),
    endpointConfigPrefix: `${prefix}-config-${name.tag}`,
  };
}

/**
 * The data steps that run either as a Lambda function or as a SageMaker Processing job (the argument the
 * Processing container's entry takes), and their names: the state (`Prepare`), the S3 task folder
 * (`runs/<runId>/tasks/<step>-<attempt>/`) and the Processing job kind (`<prefix>-prep-<runTag>-<attempt>`).
 */
export const PROCESSING_STEPS = ['prepare', 'build-vectors', 'evaluate'] as const;
export type ProcessingStep = (typeof PROCESSING_STEPS)[number];
const PROCESSING_KIND: Readonly<Record<ProcessingStep, string>> = {
  prepare: 'prep',
  'build-vectors': 'vec',
  evaluate: 'eval',
};

/** One attempt's Processing job names (`<prefix>-prep|vec|eval-<runTag>-<attempt>`, <= 63 characters). */
export interface ProcessingJobNames {
  readonly prepareJob: string;
  readonly buildVectorsJob: string;
  readonly evaluateJob: string;
}

/**
 * The Processing job names of a run attempt, cut like runNames' (the same run tag). A Processing job is
 * another SageMaker resource type than a transform job, so `-eval-` names no transform job's twin.
 */
export function processingJobNames(runId: string, prefix: string, attempt: string): ProcessingJobNames {
  const name = namer(runId, prefix, attempt);
  return {
    prepareJob: name(PROCESSING_KIND.prepare),
    buildVectorsJob: name(PROCESSING_KIND['build-vectors']),
    evaluateJob: name(PROCESSING_KIND.evaluate),
  };
}

/**
 * The key prefix (ending with `/`) a Processing job of `step` exchanges its task and result through:
 * `runs/<runId>/tasks/<step>-<attempt>/` (`task/task.json` in, `result/result.json` out).
 */
export function processingTaskKey(runId: string, step: ProcessingStep, attempt: string): string {
  checkPart(runId, 'run id');
  return `runs/${runId}/tasks/${step}-${attempt}/`;
}

/** `kind` -> `<prefix>-<kind>-<runTag>-<attempt>`, the run tag cut to fit 63 characters (see runNames). */
function namer(
  runId: string,
  prefix: string,
  attempt: string,
): ((kind: string) => string) & { readonly tag: string } {
  checkPart(prefix, 'resource prefix');
  checkPart(runId, 'run id');
  if (!/^[a-z0-9]+$/.test(attempt)) {
    throw new RunLayoutError(`attempt '${attempt}' must be lower-case alphanumerics`);
  }
  // The same budget holds for `-evalprod-<tag>-<attempt>` and `-config-<tag>` plus the deploy suffix.
  const budget =
    MAX_NAME -
    prefix.length -
    Math.max(LONGEST_KIND.length + 1 + attempt.length, '-config-'.length + DEPLOY_ATTEMPT_SUFFIX_LENGTH);
  if (budget < MIN_RUN_TAG) {
    throw new RunLayoutError(
      `resource prefix '${prefix}' leaves ${budget} characters for the run id; SageMaker names hold ${MAX_NAME}`,
    );
  }
  const tag = runTag(runId, budget);
  return Object.assign((kind: string): string => `${prefix}-${kind}-${tag}-${attempt}`, { tag });
}

/** The run id, cut to `max` characters without a trailing hyphen. */
function runTag(runId: string, max: number): string {
  return runId.length <= max ? runId : runId.slice(0, max).replace(/-+$/, '');
}

/**
 * The S3 key of an upload as the pipeline variable `triggerKey` carries it. CodePipeline substitutes a
 * variable into the Retrain action's JSON input as it is, so a key holding `"` or `\` would break that
 * JSON: the key travels URI-encoded with `encodeURI` (`"`, `\`, `%` and control characters become %XX escapes;
 * `/` and the other URI delimiters stay readable, and a plain key is unchanged), at most 1,000 characters
 * (the variable's limit), cut at a whole character with a visible marker.
 */
export function encodeTriggerKey(key: string): string {
  const encoded = encodeURI(key);
  if (encoded.length <= MAX_VARIABLE_VALUE) return encoded;
  const chars = [...key];
  let kept = '';
  let size = TRUNCATED_MARKER.length;
  for (const char of chars) {
    const part = encodeURI(char);
    if (size + part.length > MAX_VARIABLE_VALUE) break;
    kept += part;
    size += part.length;
  }
  return kept + TRUNCATED_MARKER;
}

/**
 * The S3 key from the pipeline variable `triggerKey` (see encodeTriggerKey). A value that is no valid
 * URI encoding (a run started by hand with a variable typed in the console) is returned as it is.
 */
export function decodeTriggerKey(value: string): string {
  try {
    return decodeURI(value);
  } catch {
    return value;
  }
}

/** CodePipeline's limit on a pipeline variable's value. */
export const MAX_VARIABLE_VALUE = 1000;

/**
 * Where batches go when they leave the training set (docs/data-contract.md, "Batches, quarantine and
 * lineage"): `ratings/<path>` moves to `quarantine/<path>` when a run's validation refuses it (its report
 * next to it, `<path>.report.json`), or to `withdrawn/<path>` when someone withdraws it (the reason next
 * to it, `<path>.withdrawal.json`). Both are outside `ratings/`, so no run reads them.
 */
export const QUARANTINE_PREFIX = 'quarantine/';
/** Key prefix of the rating batches a run trains on (an upload there starts a run). */
export const RATINGS_PREFIX = 'ratings/';
export const WITHDRAWN_PREFIX = 'withdrawn/';
/** Suffixes of the sidecar files next to a quarantined or withdrawn batch. */
export const QUARANTINE_REPORT_SUFFIX = '.report.json';
export const WITHDRAWAL_SUFFIX = '.withdrawal.json';
const TRUNCATED_MARKER = '...(truncated)';

/**
 * Keys under a run's prefix that the SageMaker execution roles are scoped to (infra/constructs/
 * sagemaker-roles.ts): what a model loads, what a batch transform reads and where it writes.
 */
export const RUN_PATHS = {
  /** The pre/post serving bundle (the first and last container's ModelDataUrl). */
  servingBundle: 'vectors/serving-bundle.tar.gz',
  /** The k-NN training job's output path; its artifact is `knn/<job>/output/model.tar.gz`. */
  knnOutput: 'knn/',
  /** The k-NN artifact (the middle container's ModelDataUrl), as a pattern over the job name. */
  knnArtifactPattern: 'knn/*/output/model.tar.gz',
  /** The batch transform's input (held-out users). */
  transformInput: 'prepared/transform-input/',
  /** Both batch transforms' outputs (`candidate/`, `production/`). */
  transformOutput: 'transform/',
} as const;

/** The S3 layout of a run (see docs/data-contract.md). */
export function runUris(bucket: string, runId: string): RunUris {
  checkPart(runId, 'run id');
  const prefix = `s3://${bucket}/runs/${runId}/`;
  return {
    prefix,
    train: `${prefix}prepared/train/`,
    test: `${prefix}prepared/test/`,
    transformInput: `${prefix}${RUN_PATHS.transformInput}`,
    fmOutput: `${prefix}fm/`,
    knnTrain: `${prefix}vectors/knn-train/`,
    knnOutput: `${prefix}${RUN_PATHS.knnOutput}`,
    servingBundle: `${prefix}${RUN_PATHS.servingBundle}`,
    candidateTransformOutput: `${prefix}${RUN_PATHS.transformOutput}candidate/`,
    productionTransformOutput: `${prefix}${RUN_PATHS.transformOutput}production/`,
    evaluation: `${prefix}evaluation/`,
  };
}

function checkPart(value: string, what: string): void {
  if (!NAME.test(value)) {
    throw new RunLayoutError(
      `${what} '${value}' must be alphanumerics and single hyphens, starting and ending with a letter or digit`,
    );
  }
}
