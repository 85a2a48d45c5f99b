/**
 * The local implementation of every Task `Resource` the two workflows use, with the results and the
 * error names Step Functions produces for each integration:
 *
 * | Resource                                          | local implementation                                  |
 * | ------------------------------------------------- | ----------------------------------------------------- |
 * | Lambda function ARNs (RENDER_PLACEHOLDERS)        | the project's handler, in-process, same payload       |
 * | `lambda:invoke` (by `Parameters.FunctionName`)    | the same handlers, result wrapped in `Payload`        |
 * | `sagemaker:createTrainingJob.sync`                | LocalSageMaker training job (a job instance)          |
 * | `sagemaker:createProcessingJob.sync`              | LocalSageMaker Processing job (a job instance)        |
 * | `sagemaker:createModel` / `createEndpointConfig`  | LocalSageMaker                                        |
 * | `sagemaker:createEndpoint`                        | LocalSageMaker hosting                                |
 * | `sagemaker:createTransformJob.sync`               | LocalSageMaker transform job (a job instance)         |
 * | `aws-sdk:sagemaker:describeEndpoint/updateEndpoint` | LocalSageMaker hosting (blue/green)                 |
 * | `aws-sdk:sagemaker:describeModel`                 | LocalSageMaker (production's containers, to copy)     |
 * | `aws-sdk:ssm:getParameter`                        | the local parameter store                             |
 * | `aws-sdk:s3:getObject` / `putObject`              | the local S3 (s3rver), through the AWS SDK            |
 * | `aws-sdk:cloudwatch:describeAlarms`               | the local alarms                                      |
 * | `sns:publish`                                     | the local notifications (the terminal)                |
 *
 * Error names, as the definitions' Retry and Catch rules expect them:
 * - Lambda: the handler's error type (`DataRejectedError`), the cause the Lambda error JSON;
 * - SageMaker optimized integrations: `SageMaker.AmazonSageMakerException` (or the modelled exception,
 *   e.g. `SageMaker.ResourceLimitExceededException`); a `.sync` job that ends Failed: `States.TaskFailed`
 *   with the job's description as the cause;
 * - AWS SDK integrations: `<Service>.<Exception>`, with SageMaker's unmodelled ValidationException as
 *   `SageMaker.SageMakerException` (a missing endpoint: "Could not find endpoint ...").
 *
 * Before a binding runs, its input (the resolved `Parameters`) is checked against AWS's API model of the
 * operation (`services/api-model.ts`); a request AWS would refuse fails with the service's error (e.g.
 * `SageMaker.AmazonSageMakerException`, `Ssm.ValidationException`, `SNS.InvalidParameterException`) and
 * AWS's validation message as the cause. A member the API does not have fails as `States.Runtime` with
 * Step Functions' `SCHEMA_VALIDATION_FAILED` wording (AWS refuses such a definition outright).
 */
import {
  GetObjectCommand,
  NoSuchKey,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { LocalAlarms } from './services/alarms';
import {
  findViolations,
  loadServiceModel,
  taskOperation,
  validationError,
  type ApiValidationError,
} from './services/api-model';
import type { LocalNotifications } from './services/notifications';
import { ParameterStoreError, type LocalParameterStore } from './services/parameters';
import type { LocalSageMaker } from './services/sagemaker';
import { SageMakerApiError, SageMakerJobFailedError } from './services/sagemaker-errors';
import type { TaskBinding, TaskBindings } from './state-machine-runner';

/** A Lambda handler as the Task calls it: the payload in, the result out. */
export type LambdaHandler = (payload: never) => Promise<unknown>;

export interface BindingServices {
  readonly sagemaker: LocalSageMaker;
  readonly parameters: LocalParameterStore;
  readonly alarms: LocalAlarms;
  readonly notifications: LocalNotifications;
  readonly s3: S3Client;
  /** Handlers by function ARN (the renderer's placeholders). */
  readonly lambdas: Readonly<Record<string, LambdaHandler>>;
}

/** An error as a Task reports it: `name` is what Retry and Catch match, the message is the Cause. */
export class TaskError extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

const states = (integration: string): string => `arn:aws:states:::${integration}`;

/** Every binding both workflows need. */
export function taskBindings(services: BindingServices): TaskBindings {
  const { sagemaker, parameters, alarms, notifications, s3 } = services;
  const optimized =
    (call: (input: never) => unknown): TaskBinding =>
    async (input) => {
      try {
        return await call(input as never);
      } catch (error) {
        throw optimizedError(error);
      }
    };
  const sdk =
    (service: string, call: (input: never) => unknown): TaskBinding =>
    async (input) => {
      try {
        return await call(input as never);
      } catch (error) {
        throw sdkError(service, error);
      }
    };

  const bindings: Record<string, TaskBinding> = {
    [states('sagemaker:createTrainingJob.sync')]: optimized((r) => sagemaker.createTrainingJob(r)),
    [states('sagemaker:createProcessingJob.sync')]: optimized((r) => sagemaker.createProcessingJob(r)),
    [states('sagemaker:createModel')]: optimized((r) => sagemaker.createModel(r)),
    [states('sagemaker:createTransformJob.sync')]: optimized((r) => sagemaker.createTransformJob(r)),
    [states('sagemaker:createEndpointConfig')]: optimized((r) => sagemaker.createEndpointConfig(r)),
    [states('sagemaker:createEndpoint')]: optimized((r) => sagemaker.createEndpoint(r)),
    [states('aws-sdk:sagemaker:describeModel')]: sdk('SageMaker', (r) => sagemaker.describeModel(r)),
    [states('aws-sdk:sagemaker:describeEndpoint')]: sdk('SageMaker', (r) => sagemaker.describeEndpoint(r)),
    [states('aws-sdk:sagemaker:updateEndpoint')]: sdk('SageMaker', (r) => sagemaker.updateEndpoint(r)),
    [states('aws-sdk:sagemaker:deleteEndpoint')]: sdk('SageMaker', (r) => sagemaker.deleteEndpoint(r)),
    [states('aws-sdk:ssm:getParameter')]: sdk('Ssm', (r) => parameters.getParameter(r)),
    [states('aws-sdk:cloudwatch:describeAlarms')]: sdk('CloudWatch', (r) => alarms.describeAlarms(r)),
    [states('aws-sdk:s3:getObject')]: sdk('S3', (r: { Bucket: string; Key: string }) => getObject(s3, r)),
    [states('aws-sdk:s3:putObject')]: sdk('S3', (r: PutObjectCommandInput) => putObject(s3, r)),
    [states('sns:publish')]: async (input) => notifications.publish(input as never),
  };
  const invoke = async (handler: LambdaHandler, payload: unknown): Promise<unknown> => {
    try {
      return await handler(payload as never);
    } catch (error) {
      throw lambdaError(error);
    }
  };
  for (const [resource, binding] of Object.entries(bindings)) {
    bindings[resource] = validated(resource, binding);
  }
  for (const [arn, handler] of Object.entries(services.lambdas)) {
    bindings[arn] = (payload) => invoke(handler, payload);
  }
  // The optimized Lambda integration, should a definition use it: bound by Parameters.FunctionName.
  bindings[states('lambda:invoke')] = async (input) => {
    const { FunctionName: name, Payload: payload } = input as { FunctionName?: string; Payload?: unknown };
    const handler = services.lambdas[String(name).replace(/:(\$LATEST|\d+)$/, '')];
    if (!handler) {
      throw new TaskError(
        'Lambda.ResourceNotFoundException',
        `Function not found: ${String(name)} (no local handler)`,
      );
    }
    return { ExecutedVersion: '$LATEST', StatusCode: 200, Payload: await invoke(handler, payload) };
  };
  return bindings;
}

/** `binding`, run only when its input is a request AWS's API model of the operation accepts. */
function validated(resource: string, binding: TaskBinding): TaskBinding {
  const target = taskOperation(resource);
  if (!target) return binding;
  const { service, operation, integration } = target;
  const model = loadServiceModel(service);
  if (!model.operations[operation]) {
    throw new Error(
      `${operation} is not in local/aws-models/${service}.json; add it to update.ts and regenerate`,
    );
  }
  return async (input, context) => {
    const violations = findViolations(model, operation, input);
    if (violations.length) {
      const unknown = violations.find((v) => v.kind === 'unknown');
      if (unknown) {
        const field = unknown.memberPath.split('.').at(-1);
        throw new TaskError(
          'States.Runtime',
          `SCHEMA_VALIDATION_FAILED: The field "${field}" is not supported by Step Functions ` +
            `(${unknown.memberPath} is not a member of ${operation}'s request; ${resource})`,
        );
      }
      const error = validationError(service, operation, violations);
      throw integration === 'optimized' ? optimizedValidationError(error) : sdkValidationError(error);
    }
    return binding(input, context);
  };
}

/** Step Functions' error-name prefix and the SDK's generic exception, per service. */
const SFN_NAMES: Readonly<Record<string, { sdk: string; optimized: string; optimizedGeneric: string }>> = {
  sagemaker: { sdk: 'SageMaker', optimized: 'SageMaker', optimizedGeneric: 'AmazonSageMakerException' },
  sns: { sdk: 'Sns', optimized: 'SNS', optimizedGeneric: 'AmazonSNSException' },
  ssm: { sdk: 'Ssm', optimized: 'Ssm', optimizedGeneric: 'AWSSimpleSystemsManagementException' },
  cloudwatch: { sdk: 'CloudWatch', optimized: 'CloudWatch', optimizedGeneric: 'AmazonCloudWatchException' },
  s3: { sdk: 'S3', optimized: 'S3', optimizedGeneric: 'AmazonS3Exception' },
  codepipeline: {
    sdk: 'CodePipeline',
    optimized: 'CodePipeline',
    optimizedGeneric: 'AWSCodePipelineException',
  },
};

/** The modelled exception of a refusal, named as the SDKs name exception classes. */
function modelledException(error: ApiValidationError): string | undefined {
  const shape = error.exceptionShape;
  return shape && (shape.endsWith('Exception') ? shape : `${shape}Exception`);
}

/** A refusal on an optimized integration: the SDK v1 exception, AWS's message and code in the cause. */
function optimizedValidationError(error: ApiValidationError): TaskError {
  const names = SFN_NAMES[error.service];
  const exception = modelledException(error) ?? names.optimizedGeneric;
  const serviceName = names.optimizedGeneric.replace(/Exception$/, '');
  return new TaskError(
    `${names.optimized}.${exception}`,
    `${error.message} (Service: ${serviceName}; Status Code: 400; Error Code: ${error.code})`,
  );
}

/** A refusal on an AWS SDK integration: `<Service>.<Exception>`, unmodelled codes as `<Service>Exception`. */
function sdkValidationError(error: ApiValidationError): TaskError {
  const prefix = SFN_NAMES[error.service].sdk;
  const exception = modelledException(error) ?? `${prefix}Exception`;
  return new TaskError(
    `${prefix}.${exception}`,
    `${error.message} (Service: ${prefix}, Status Code: 400, Error Code: ${error.code})`,
  );
}

/** GetObject as the SDK integration returns it: the body as a string. */
async function getObject(
  s3: S3Client,
  input: { Bucket: string; Key: string },
): Promise<Record<string, unknown>> {
  const response = await s3.send(new GetObjectCommand({ Bucket: input.Bucket, Key: input.Key }));
  return {
    Body: (await response.Body?.transformToString('utf-8')) ?? '',
    ContentType: response.ContentType,
    ContentLength: response.ContentLength,
    ETag: response.ETag,
    LastModified: response.LastModified?.toISOString(),
  };
}

/**
 * PutObject as the SDK integration runs it: the request's members as given (the model check has
 * accepted them; a JSON string Body is stored as its UTF-8 text), the response without `$metadata`.
 */
async function putObject(s3: S3Client, input: PutObjectCommandInput): Promise<Record<string, unknown>> {
  const response: Record<string, unknown> = { ...(await s3.send(new PutObjectCommand(input))) };
  delete response.$metadata;
  return response;
}

/** The error of a Lambda Task: the error type, and the Lambda error JSON as the cause. */
export function lambdaError(error: unknown): TaskError {
  const err = error instanceof Error ? error : new Error(String(error));
  const name = err.name && err.name !== 'Error' ? err.name : 'Error';
  return new TaskError(
    name,
    JSON.stringify({ errorType: name, errorMessage: err.message, trace: (err.stack ?? '').split('\n') }),
  );
}

function optimizedError(error: unknown): Error {
  if (error instanceof SageMakerJobFailedError) {
    return new TaskError('States.TaskFailed', JSON.stringify(error.description));
  }
  if (error instanceof SageMakerApiError) {
    const name =
      error.code === 'ResourceLimitExceeded'
        ? 'SageMaker.ResourceLimitExceededException'
        : 'SageMaker.AmazonSageMakerException';
    return new TaskError(
      name,
      `${error.message} (Service: AmazonSageMaker; Status Code: 400; Error Code: ${error.code})`,
    );
  }
  return new TaskError('States.TaskFailed', (error as Error).message);
}

function sdkError(service: string, error: unknown): Error {
  const err = error as Error;
  let exception: string;
  let code: string;
  if (error instanceof SageMakerApiError) {
    code = error.code;
    exception =
      code === 'ValidationException' ? 'SageMakerException' : `${code.replace(/Exception$/, '')}Exception`;
  } else if (error instanceof ParameterStoreError) {
    code = error.code;
    exception = `${code.replace(/Exception$/, '')}Exception`;
  } else if (error instanceof NoSuchKey || err.name === 'NoSuchKey') {
    code = 'NoSuchKey';
    exception = 'NoSuchKeyException';
  } else {
    code = err.name;
    exception = err.name.endsWith('Exception') ? err.name : `${err.name}Exception`;
  }
  return new TaskError(
    `${service}.${exception}`,
    `${err.message} (Service: ${service}, Status Code: 400, Error Code: ${code})`,
  );
}
