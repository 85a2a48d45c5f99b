/**
 * Errors of the operator commands (`reelflow status | runs | show | upload | approve | reject | rollback |
 * doctor`): OperatorError carries the one line the CLI prints (`reelflow <cmd>: <message>`), and
 * explainAwsError turns what the AWS SDK throws into that one line, saying what to do. The SDK names an
 * error by the service's error code (`ExpiredTokenException`, `ValidationError`, ...), credential
 * problems by the provider (`CredentialsProviderError`), and network failures keep Node's `code`
 * (`ENOTFOUND`, `ECONNREFUSED`).
 */

/** A failure the operator can act on; `message` is the whole, single-line explanation. */
export class OperatorError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'OperatorError';
  }
}

/** Where the failing call went, for the explanation. */
export interface AwsErrorContext {
  /** The region the clients use. */
  readonly region?: string;
  /** The CloudFormation stack read for the names. */
  readonly stackName?: string;
  /** What was being done, e.g. `read the stack outputs` (`could not <what>: ...`). */
  readonly what?: string;
}

const REFRESH = 'refresh the credentials (aws sso login, or a new session token) and rerun';
const CHECK_CREDENTIALS = 'check --profile / AWS_PROFILE or the access key, then rerun';

/** The name an SDK error carries (`ExpiredTokenException`, `NoSuchKey`, ...); '' for a non-error. */
export function awsErrorName(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '';
  const { name, Code } = error as { name?: unknown; Code?: unknown };
  if (typeof name === 'string' && name !== 'Error') return name;
  if (typeof Code === 'string') return Code;
  return typeof name === 'string' ? name : '';
}

/** True for an S3 object or AWS resource that is not there (NoSuchKey, NotFound, ...NotFoundException). */
export function isNotFoundError(error: unknown): boolean {
  const name = awsErrorName(error);
  return (
    name === 'NoSuchKey' ||
    name === 'NotFound' ||
    name === 'ParameterNotFound' ||
    name.endsWith('NotFoundException') ||
    (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode === 404
  );
}

/** One line saying what went wrong and what to do about it. */
export function explainAwsError(error: unknown, context: AwsErrorContext = {}): string {
  if (error instanceof OperatorError) return error.message;
  const name = awsErrorName(error);
  const message = oneLine(error instanceof Error ? error.message : String(error));
  const code = (error as { code?: unknown } | null)?.code;
  const could = context.what ? `could not ${context.what}: ` : '';
  const region = context.region ? ` (${context.region})` : '';

  const stack = /Stack with id (\S+) does not exist/.exec(message);
  if (stack && (name === 'ValidationError' || name === 'ValidationException')) {
    return (
      `stack ${context.stackName ?? stack[1]} does not exist in ${context.region ?? 'this region'}: ` +
      'deploy it (npx cdk deploy --all), or pass --stack <name> / --region <region>'
    );
  }
  if (name === 'ExpiredToken' || name === 'ExpiredTokenException' || name === 'RequestExpired') {
    return `${could}your AWS session has expired: ${REFRESH}`;
  }
  if (name === 'CredentialsProviderError' || name === 'TokenProviderError') {
    return `${could}no usable AWS credentials (${message}): pass --profile, set AWS_PROFILE, or run aws configure / aws sso login`;
  }
  if (
    name === 'UnrecognizedClientException' ||
    name === 'InvalidClientTokenId' ||
    name === 'InvalidSignatureException' ||
    name === 'SignatureDoesNotMatch'
  ) {
    return `${could}AWS does not recognise these credentials: ${CHECK_CREDENTIALS}`;
  }
  if (name.startsWith('AccessDenied')) {
    return `${context.what ? `not allowed to ${context.what}` : 'not allowed'}: ${message}; use credentials with the operator's permissions (--profile)`;
  }
  if (/Region is missing/i.test(message)) {
    return 'no AWS region: pass --region, or set AWS_REGION or a region in the profile';
  }
  if (code === 'ENOTFOUND' || name === 'ENOTFOUND' || /ENOTFOUND/.test(message)) {
    return `${could}cannot resolve the service's address${region}: check --region / AWS_REGION (${message})`;
  }
  if (code === 'ECONNREFUSED' || name === 'ECONNREFUSED' || /ECONNREFUSED/.test(message)) {
    return `${could}nothing answers at the endpoint (${message}): for the local twin, is npm start still running?`;
  }
  if (
    name === 'ThrottlingException' ||
    name === 'Throttling' ||
    name === 'TooManyRequestsException' ||
    name === 'SlowDown'
  ) {
    return `${could}AWS throttled the calls: wait a minute and rerun`;
  }
  // A service's error code says what failed; a local error's class name does not (its message does).
  const fromService = typeof error === 'object' && error !== null && '$metadata' in error;
  const label = fromService && name && name !== 'Error' ? `${name}: ` : '';
  return `${could}${label}${message}`;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 297)}...` : flat;
}
