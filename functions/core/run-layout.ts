/**
 * Where a run's resources live and what they are called: the SageMaker resource names of a run and
 * the S3 layout under `runs/<runId>/`. One function each, used by the Prepare handler (which hands
 * them to every later state), the deploy workflow's readers, the local runtime and the docs.
 */
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

/** The longest suffix a resource name adds after the prefix (`-evalprod-`). */
const LONGEST_KIND = '-evalprod-';

/**
 * Per-run SageMaker names: `<prefix>-fm-<runId>`, ... Every job and model is named per run, so a
 * repeated run id (a retried pipeline execution) fails loudly instead of overwriting a resource.
 */
export function runNames(runId: string, prefix: string): RunNames {
  checkPart(prefix, 'resource prefix');
  checkPart(runId, 'run id');
  const longest = prefix.length + LONGEST_KIND.length + runId.length;
  if (longest > MAX_NAME) {
    throw new RunLayoutError(
      `resource prefix '${prefix}' and run id '${runId}' make names of ${longest} characters; SageMaker allows ${MAX_NAME}`,
    );
  }
  return {
    fmJob: `${prefix}-fm-${runId}`,
    knnJob: `${prefix}-knn-${runId}`,
    model: `${prefix}-model-${runId}`,
    candidateTransformJob: `${prefix}-eval-${runId}`,
    productionTransformJob: `${prefix}-evalprod-${runId}`,
    endpointConfig: `${prefix}-config-${runId}`,
  };
}

/** The S3 layout of a run (see docs/data-contract.md). */
export function runUris(bucket: string, runId: string): RunUris {
  checkPart(runId, 'run id');
  const prefix = `s3://${bucket}/runs/${runId}/`;
  return {
    prefix,
    train: `${prefix}prepared/train/`,
    test: `${prefix}prepared/test/`,
    transformInput: `${prefix}prepared/transform-input/`,
    fmOutput: `${prefix}fm/`,
    knnTrain: `${prefix}vectors/knn-train/`,
    knnOutput: `${prefix}knn/`,
    servingBundle: `${prefix}vectors/serving-bundle.tar.gz`,
    candidateTransformOutput: `${prefix}transform/candidate/`,
    productionTransformOutput: `${prefix}transform/production/`,
    evaluation: `${prefix}evaluation/`,
  };
}

/** Key (without bucket) of a run's prepared artifacts, e.g. for listing or the Evaluate handler. */
export function preparedKey(runId: string, path = ''): string {
  return `runs/${runId}/prepared/${path}`;
}

function checkPart(value: string, what: string): void {
  if (!NAME.test(value)) {
    throw new RunLayoutError(
      `${what} '${value}' must be alphanumerics and single hyphens, starting and ending with a letter or digit`,
    );
  }
}
