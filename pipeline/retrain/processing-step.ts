/**
 * One data step of the retrain workflow (Prepare, BuildVectors, Evaluate) that runs either as its Lambda
 * function or as a SageMaker Processing job running the same code in the project's image, as the
 * PlanRun state decided (`$.plan.mode`):
 *
 *   <Step>Where? -- lambda -----> <Step> (the Lambda Task, unchanged) ----------------------------------> next
 *                \- processing -> <Step>Payload (the Lambda's exact payload) -> <Step>Input (S3 PutObject
 *                   task/task.json) -> <Step>Processing (createProcessingJob.sync) -> <Step>Result (S3
 *                   GetObject result/result.json) -> <Step>Parse (into the Lambda's result path)
 *                   -> <Step>Failed? -- error --> <Step>Error ($.error) -> failure path
 *                                    \- otherwise ------------------------------------------------------> next
 *
 * The container (functions/processing/main.ts) writes a step error as `{ "error": { Error, Cause } }`
 * and exits 0, so a data rejection or a bad artifact reaches the failure path with the same error name
 * and cause as from the Lambda; a crash fails the job (States.TaskFailed, its ExitMessage in the cause).
 */
import { Aws } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { RATINGS_PREFIX, type ProcessingStep } from '../../functions/core/run-layout';
import type { ProcessingConfig } from '../config';
import {
  guard,
  LAMBDA_RETRY,
  lambdaStep,
  SAGEMAKER_CAPACITY_RETRY,
  SAGEMAKER_RETRY,
  sageMakerTask,
  sdkRetry,
} from '../workflow-kit';
import { processingStateNames } from './states';

/** Where the Processing container finds its task and leaves its result (ProcessingInput/Output LocalPath). */
export const PROCESSING_PATHS = {
  entrypoint: ['node', '/app/processing.js'],
  task: '/opt/ml/processing/input/task',
  result: '/opt/ml/processing/output/result',
} as const;

/** The field of `$.plan.names` / `$.plan.taskUris` / `$.plan.taskKeys` of each step. */
const PLAN_FIELD: Readonly<Record<ProcessingStep, 'prepare' | 'buildVectors' | 'evaluate'>> = {
  prepare: 'prepare',
  'build-vectors': 'buildVectors',
  evaluate: 'evaluate',
};

/**
 * The environment of a data step: exactly what its Lambda function gets (infra/constructs/
 * workflow-functions.ts sets these), so the handler's core reads the same variables in both places.
 */
export function dataStepEnvironment(step: ProcessingStep, bucketName: string): Record<string, string> {
  return {
    DATA_BUCKET: bucketName,
    ...(step === 'prepare' ? { RATINGS_PREFIX } : {}),
  };
}

/** The objects the workflow writes and reads for the Processing jobs: `runs/<runId>/tasks/...`. */
export function taskObjectsArn(bucketName: string): string {
  return `arn:${Aws.PARTITION}:s3:::${bucketName}/runs/*/tasks/*`;
}

/** What every Processing job of the workflow shares. */
export interface ProcessingJobSettings {
  /** Instance type, volume and runtime limit (deploy config `processing`). */
  readonly config: ProcessingConfig;
  /** The Processing jobs' execution role. */
  readonly role: iam.IRole;
  /** The project's image (the serving image: it also holds /app/processing.js). */
  readonly imageUri: string;
  /** Encrypts the volume and the uploaded result. */
  readonly key: kms.IKey;
  /** The data bucket's name: where the task and the result go, and the step's DATA_BUCKET. */
  readonly bucketName: string;
}

/** Props of {@link DataStep}. */
export interface DataStepProps {
  /** The step, as the container's argument names it. */
  readonly step: ProcessingStep;
  /** The Lambda Task's state name (`Prepare`): unchanged, the local runtime and tests refer to it. */
  readonly stateName: string;
  /** The step's Lambda function. */
  readonly fn: lambda.IFunction;
  /** The Lambda's payload (keys ending in `.$` are JSONPaths); the Processing job gets the same. */
  readonly payload: Record<string, unknown>;
  /** Where the step's result goes in the state, on both paths. */
  readonly resultPath: string;
  readonly processing: ProcessingJobSettings;
  /** Where every error goes (the notify-and-fail path). */
  readonly failure: sfn.IChainable;
}

/** `<Step>Where?` through the Lambda Task or the Processing chain; ends where both paths continue. */
export class DataStep extends sfn.StateMachineFragment {
  readonly startState: sfn.State;
  readonly endStates: sfn.INextable[];

  constructor(scope: Construct, id: string, props: DataStepProps) {
    super(scope, id);
    const { failure, resultPath } = props;
    const names = processingStateNames(props.stateName);
    const lambdaTask = guard(
      lambdaStep(this, props.stateName, props.fn, props.payload, resultPath),
      failure,
      [LAMBDA_RETRY],
    );
    const payload = new sfn.Pass(this, names.payload, {
      comment: `The payload the ${props.stateName} Lambda would get, for the Processing job's task.json`,
      parameters: props.payload,
      resultPath: '$.processingTask',
    });
    const error = new sfn.Pass(this, names.error, {
      comment: 'The step error the container reported, where a caught error goes',
      parameters: {
        'Error.$': `${resultPath}.error.Error`,
        'Cause.$': `${resultPath}.error.Cause`,
      },
      resultPath: '$.error',
    });
    error.next(failure);
    const failed = new sfn.Choice(this, names.failed).when(
      sfn.Condition.isPresent(`${resultPath}.error`),
      error,
    );
    payload
      .next(this.putTask(names.input, props))
      .next(this.processingJob(names.processing, props))
      .next(this.getResult(names.result, props))
      .next(
        new sfn.Pass(this, names.parse, {
          comment: `result.json where the ${props.stateName} Lambda's result goes`,
          inputPath: '$.processingResult.value',
          resultPath,
        }),
      )
      .next(failed);
    this.startState = new sfn.Choice(this, names.where)
      .when(sfn.Condition.stringEquals('$.plan.mode', 'processing'), payload)
      .otherwise(lambdaTask);
    this.endStates = [lambdaTask, ...failed.afterwards({ includeOtherwise: true }).endStates];
  }

  /** `<Step>Input`: the payload as `<task folder>task/task.json`. */
  private putTask(id: string, props: DataStepProps): tasks.CallAwsService {
    const field = PLAN_FIELD[props.step];
    return guard(
      new tasks.CallAwsService(this, id, {
        service: 's3',
        action: 'putObject',
        parameters: {
          Bucket: props.processing.bucketName,
          Key: sfn.JsonPath.format('{}task/task.json', sfn.JsonPath.stringAt(`$.plan.taskKeys.${field}`)),
          Body: sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt('$.processingTask')),
          ContentType: 'application/json',
        },
        iamResources: [taskObjectsArn(props.processing.bucketName)],
        resultPath: sfn.JsonPath.DISCARD,
      }),
      props.failure,
      [sdkRetry('S3')],
    );
  }

  /** `<Step>Processing`: the step in the project's image, the task folder in, the result folder out. */
  private processingJob(id: string, props: DataStepProps): sfn.CustomState {
    const { config, role, imageUri, key, bucketName } = props.processing;
    const field = PLAN_FIELD[props.step];
    const uri = `$.plan.taskUris.${field}`;
    return guard(
      sageMakerTask(this, id, {
        action: 'createProcessingJob',
        sync: true,
        comment: `${props.stateName} as a SageMaker Processing job (PlanRun chose it)`,
        // Its own limit plus provisioning and the result upload, as for the training jobs.
        timeoutSeconds: config.maxRuntimeSeconds + 1800,
        parameters: {
          'ProcessingJobName.$': `$.plan.names.${field}Job`,
          RoleArn: role.roleArn,
          AppSpecification: {
            ImageUri: imageUri,
            ContainerEntrypoint: [...PROCESSING_PATHS.entrypoint],
            ContainerArguments: [props.step],
          },
          ProcessingInputs: [
            {
              InputName: 'task',
              S3Input: {
                'S3Uri.$': `States.Format('{}task/', ${uri})`,
                LocalPath: PROCESSING_PATHS.task,
                S3DataType: 'S3Prefix',
                S3InputMode: 'File',
                S3DataDistributionType: 'FullyReplicated',
              },
            },
          ],
          ProcessingOutputConfig: {
            Outputs: [
              {
                OutputName: 'result',
                S3Output: {
                  'S3Uri.$': `States.Format('{}result/', ${uri})`,
                  LocalPath: PROCESSING_PATHS.result,
                  S3UploadMode: 'EndOfJob',
                },
              },
            ],
            KmsKeyId: key.keyArn,
          },
          ProcessingResources: {
            ClusterConfig: {
              InstanceCount: 1,
              InstanceType: config.instanceType,
              VolumeSizeInGB: config.volumeSizeGb,
              VolumeKmsKeyId: key.keyArn,
            },
          },
          StoppingCondition: { MaxRuntimeInSeconds: config.maxRuntimeSeconds },
          Environment: {
            ...dataStepEnvironment(props.step, bucketName),
            // What the Lambda runtime sets and the functions' construct adds, for the same SDK and logger setup.
            AWS_REGION: Aws.REGION,
            POWERTOOLS_SERVICE_NAME: 'reelflow',
            REELFLOW_PROCESSING_STEP: props.step,
          },
          // The step reads and writes the data bucket through the SDK, as the Lambda does.
          NetworkConfig: { EnableNetworkIsolation: false },
        },
        resultPath: sfn.JsonPath.DISCARD,
      }),
      props.failure,
      [SAGEMAKER_RETRY, SAGEMAKER_CAPACITY_RETRY],
    );
  }

  /** `<Step>Result`: `<task folder>result/result.json`, parsed (at `$.processingResult.value`). */
  private getResult(id: string, props: DataStepProps): tasks.CallAwsService {
    const field = PLAN_FIELD[props.step];
    return guard(
      new tasks.CallAwsService(this, id, {
        service: 's3',
        action: 'getObject',
        parameters: {
          Bucket: props.processing.bucketName,
          Key: sfn.JsonPath.format('{}result/result.json', sfn.JsonPath.stringAt(`$.plan.taskKeys.${field}`)),
        },
        iamResources: [taskObjectsArn(props.processing.bucketName)],
        resultSelector: { 'value.$': 'States.StringToJson($.Body)' },
        resultPath: '$.processingResult',
      }),
      props.failure,
      [sdkRetry('S3')],
    );
  }
}
