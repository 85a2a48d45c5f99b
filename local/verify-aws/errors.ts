/**
 * Errors of `reelflow verify-aws`, and the one-line advice for the AWS errors a first check in a new
 * account meets (the SDK names them by the service's error code: `ResourceLimitExceeded`,
 * `ExpiredTokenException`, ...).
 */

/** A check whose outcome is not what reelflow assumes; the message says what was seen. */
export class VerifyCheckError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'VerifyCheckError';
  }
}

/** The run was interrupted (Ctrl-C); cleanup still runs. */
export class VerifyAbortedError extends Error {
  constructor() {
    super('interrupted (Ctrl-C); cleaning up');
    this.name = 'VerifyAbortedError';
  }
}

/** A wait that ran past its bound. */
export class VerifyTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VerifyTimeoutError';
  }
}

/** The stack lacks an output the check needs. */
export class MissingStackOutputError extends Error {
  constructor(
    readonly stackName: string,
    readonly missing: readonly string[],
  ) {
    super(
      `stack ${stackName} has no output ${missing.join(', ')}: deploy the current version ` +
        '(npx cdk deploy --all) or pass --stack <name>',
    );
    this.name = 'MissingStackOutputError';
  }
}

/** What to do about an SDK error, by its `name`, in one line. `what` names the call that failed. */
const ADVICE: Readonly<Record<string, (message: string) => string>> = {
  ResourceLimitExceeded: (m) =>
    `SageMaker quota reached (${m}); ask for an increase in Service Quotas (SageMaker, "<instance type> for ` +
    'training job usage" or "for endpoint usage"), or set another instance type in cdk.json, then rerun',
  ValidationException: (m) => `SageMaker or CloudFormation refused the request: ${m}`,
  ValidationError: (m) => `the request was refused: ${m}`,
  ExpiredTokenException: () =>
    'your AWS session has expired: refresh the credentials (aws sso login, or a new session token) and rerun',
  ExpiredToken: () =>
    'your AWS session has expired: refresh the credentials (aws sso login, or a new session token) and rerun',
  UnrecognizedClientException: () =>
    'AWS does not recognise these credentials: check --profile / AWS_PROFILE or the access key, then rerun',
  InvalidClientTokenId: () =>
    'AWS does not recognise these credentials: check --profile / AWS_PROFILE or the access key, then rerun',
  CredentialsProviderError: () =>
    'no AWS credentials found: pass --profile, set AWS_PROFILE, or run aws configure / aws sso login',
  AccessDeniedException: (m) => `these credentials are not allowed to do this: ${m}`,
  AccessDenied: (m) => `these credentials are not allowed to do this: ${m}`,
  ThrottlingException: () => 'AWS throttled the calls: wait a minute and rerun',
  ResourceInUse: (m) => `a resource with this name already exists (${m}); rerun (every run uses new names)`,
  ResourceNotFound: (m) => `not found: ${m}`,
  NoSuchBucket: () => 'the data bucket does not exist: deploy ReelflowDataStack first (npx cdk deploy --all)',
};

/** The message of an error for the table: `<Name>: <what to do>`, on one line. */
export function describeError(error: unknown): string {
  const err = error instanceof Error ? error : new Error(String(error));
  const message = oneLine(err.message);
  const advice = ADVICE[err.name];
  if (err.name === 'ValidationError' && /Stack with id .* does not exist/.test(err.message)) {
    return `${err.name}: ${message}: deploy first (npx cdk deploy --all), or pass --stack / --region`;
  }
  if (advice) return `${err.name}: ${advice(message)}`;
  if (err.name === 'Error' || err.name.startsWith('Verify')) return message;
  return `${err.name}: ${message}`;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 297)}...` : flat;
}
