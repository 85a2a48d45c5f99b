/**
 * explainAwsError: the one line the CLI prints for what the AWS SDK throws, from errors built the way
 * the SDK builds them (the service's error code as `name`, `$metadata`, the service's message; Node's
 * `code` for network failures).
 */
import { explainAwsError, isNotFoundError, OperatorError } from '../../../local/operate/errors';
import { awsError } from './operate-fixtures';

const context = { region: 'eu-west-1', stackName: 'ReelflowStack', what: 'list the pipeline executions' };

describe('explainAwsError', () => {
  it.each([
    [
      awsError('ExpiredTokenException', 'The security token included in the request is expired'),
      'could not list the pipeline executions: your AWS session has expired: refresh the credentials (aws sso login, or a new session token) and rerun',
    ],
    [
      awsError('ExpiredToken', 'The security token included in the request is expired', 403),
      'could not list the pipeline executions: your AWS session has expired: refresh the credentials (aws sso login, or a new session token) and rerun',
    ],
    [
      Object.assign(new Error('Could not load credentials from any providers'), {
        name: 'CredentialsProviderError',
        tryNextLink: false,
      }),
      'could not list the pipeline executions: no usable AWS credentials (Could not load credentials from any providers): pass --profile, set AWS_PROFILE, or run aws configure / aws sso login',
    ],
    [
      awsError('UnrecognizedClientException', 'The security token included in the request is invalid.'),
      'could not list the pipeline executions: AWS does not recognise these credentials: check --profile / AWS_PROFILE or the access key, then rerun',
    ],
    [
      awsError(
        'AccessDeniedException',
        'User: arn:aws:sts::123456789012:assumed-role/ReadOnly/alice is not authorized to perform: codepipeline:ListPipelineExecutions',
      ),
      "not allowed to list the pipeline executions: User: arn:aws:sts::123456789012:assumed-role/ReadOnly/alice is not authorized to perform: codepipeline:ListPipelineExecutions; use credentials with the operator's permissions (--profile)",
    ],
    [
      awsError('ValidationError', 'Stack with id ReelflowStack does not exist'),
      'stack ReelflowStack does not exist in eu-west-1: deploy it (npx cdk deploy --all), or pass --stack <name> / --region <region>',
    ],
    [
      Object.assign(new Error('getaddrinfo ENOTFOUND codepipeline.eu-wst-1.amazonaws.com'), {
        code: 'ENOTFOUND',
        $metadata: { attempts: 3 },
      }),
      "could not list the pipeline executions: cannot resolve the service's address (eu-west-1): check --region / AWS_REGION (getaddrinfo ENOTFOUND codepipeline.eu-wst-1.amazonaws.com)",
    ],
    [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:45002'), { code: 'ECONNREFUSED' }),
      'could not list the pipeline executions: nothing answers at the endpoint (connect ECONNREFUSED 127.0.0.1:45002): for the local twin, is npm start still running?',
    ],
    [
      awsError('ThrottlingException', 'Rate exceeded'),
      'could not list the pipeline executions: AWS throttled the calls: wait a minute and rerun',
    ],
    [
      awsError(
        'PipelineNotFoundException',
        "The account does not have a pipeline with name 'x'.\n  Check it.",
      ),
      "could not list the pipeline executions: PipelineNotFoundException: The account does not have a pipeline with name 'x'. Check it.",
    ],
    [new OperatorError('no run abc in pipeline reelflow-release'), 'no run abc in pipeline reelflow-release'],
  ])('explains %p in one line', (error, expected) => {
    const line = explainAwsError(error, context);
    expect(line).toBe(expected);
    expect(line).not.toContain('\n');
  });

  it('says no region when the SDK has none', () => {
    expect(explainAwsError(new Error('Region is missing'))).toBe(
      'no AWS region: pass --region, or set AWS_REGION or a region in the profile',
    );
  });

  it('explains a thrown non-error by its text', () => {
    expect(explainAwsError('boom')).toBe('boom');
  });
});

describe('isNotFoundError', () => {
  it('recognises a missing S3 object and a missing resource, not an access denial', () => {
    expect(isNotFoundError(awsError('NoSuchKey', 'The specified key does not exist.', 404))).toBe(true);
    expect(isNotFoundError(awsError('NotFound', 'NotFound', 404))).toBe(true);
    expect(isNotFoundError(awsError('ResourceNotFoundException', 'no such thing'))).toBe(true);
    expect(isNotFoundError(awsError('AccessDenied', 'Access Denied', 403))).toBe(false);
  });
});
