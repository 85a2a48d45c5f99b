/**
 * Errors of the local SageMaker, named by the API error code the real service returns
 * (`ValidationException`, `ResourceInUse`, ...). The state machine bindings turn them into the names
 * Step Functions reports for each integration (task-bindings.ts), so the definitions' Retry and Catch
 * rules see what they would see in AWS.
 */

/** SageMaker API error codes the local service returns. */
export type SageMakerErrorCode =
  'ValidationException' | 'ResourceInUse' | 'ResourceNotFound' | 'ResourceLimitExceeded';

/** A refused SageMaker API call. */
export class SageMakerApiError extends Error {
  constructor(
    readonly code: SageMakerErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SageMakerApiError';
  }
}

/** A training or transform job that ended Failed; `description` is its Describe*Job output. */
export class SageMakerJobFailedError extends Error {
  constructor(
    readonly description: Record<string, unknown>,
    reason: string,
  ) {
    super(reason);
    this.name = 'SageMakerJobFailedError';
  }
}

/** What makes a training job fail, as SageMaker words it (`AlgorithmError: ...` in FailureReason). */
export class AlgorithmError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AlgorithmError';
  }
}

/** What makes a transform job fail: the data or the model's answer (`ClientError: ...`). */
export class TransformClientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClientError';
  }
}

/** Throws a ValidationException naming `field` when `value` is missing or empty. */
export function required<T>(value: T | undefined | null, field: string): T {
  if (value === undefined || value === null || value === '') {
    throw new SageMakerApiError(
      'ValidationException',
      `1 validation error detected: ${field} must not be null`,
    );
  }
  return value;
}

/** SageMaker resource names: 1-63 alphanumerics and hyphens, starting and ending alphanumeric. */
export function checkName(name: string, field: string): string {
  if (!/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/.test(name)) {
    throw new SageMakerApiError(
      'ValidationException',
      `1 validation error detected: Value '${name}' at '${field}' failed to satisfy constraint: ` +
        `Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`,
    );
  }
  return name;
}

/** The ARN of a local SageMaker resource (names are lower-cased in ARNs, as SageMaker does). */
export function sageMakerArn(region: string, account: string, kind: string, name: string): string {
  return `arn:aws:sagemaker:${region}:${account}:${kind}/${name.toLowerCase()}`;
}
