/**
 * What the retrain state machine's role needs beyond the CDK tasks' own grants, scoped to the project's
 * name prefix, and the cdk-nag findings that scope leaves, each with its reason.
 */
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { acknowledgeFunctionVersions, acknowledgePolicies, resourceFinding } from '../nag';
import { grantKeyForSageMaker, grantKeyViaService } from '../workflow-kit';
import { taskObjectsArn } from './processing-step';

/** What the retrain role is granted on. */
export interface RetrainGrantTargets {
  /** Every job and model of a run is named `<resourcePrefix>-...`. */
  readonly resourcePrefix: string;
  /** The project key (volumes, outputs, the SSM record, the notices). */
  readonly key: kms.IKey;
  /** Passed to the training jobs. */
  readonly trainingRole: iam.IRole;
  /** Passed to the hosting model. */
  readonly hostingRole: iam.IRole;
  /** Passed to the transform models. */
  readonly transformRole: iam.IRole;
  /** Passed to the data steps' Processing jobs. */
  readonly processingRole: iam.IRole;
  /** The Processing jobs' task and result objects live under its `runs/<runId>/tasks/`. */
  readonly dataBucket: s3.IBucket;
  /** The data-step functions the workflow invokes. */
  readonly functions: readonly lambda.IFunction[];
}

/**
 * Grants the SageMaker, EventBridge, PassRole and KMS permissions of the retrain workflow, and
 * acknowledges the wildcards they keep. Returns the combined grant.
 */
export function grantRetrainPermissions(
  stateMachine: sfn.StateMachine,
  targets: RetrainGrantTargets,
): iam.Grant {
  const stack = Stack.of(stateMachine);
  const arn = (resource: string): string =>
    stack.formatArn({ service: 'sagemaker', resource, resourceName: `${targets.resourcePrefix}-*` });
  const grants: iam.Grant[] = [];
  const allow = (
    actions: string[],
    resourceArns: string[],
    conditions?: Record<string, Record<string, unknown>>,
  ): void => {
    grants.push(iam.Grant.addToPrincipal({ grantee: stateMachine, actions, resourceArns, conditions }));
  };
  allow(
    ['sagemaker:CreateTrainingJob', 'sagemaker:DescribeTrainingJob', 'sagemaker:StopTrainingJob'],
    [arn('training-job')],
  );
  allow(
    ['sagemaker:CreateTransformJob', 'sagemaker:DescribeTransformJob', 'sagemaker:StopTransformJob'],
    [arn('transform-job')],
  );
  allow(
    ['sagemaker:CreateProcessingJob', 'sagemaker:DescribeProcessingJob', 'sagemaker:StopProcessingJob'],
    [arn('processing-job')],
  );
  allow(['sagemaker:CreateModel'], [arn('model')]);
  allow(
    ['sagemaker:AddTags', 'sagemaker:ListTags'],
    [arn('training-job'), arn('transform-job'), arn('processing-job'), arn('model')],
  );
  // The .sync integrations watch job state changes through these managed EventBridge rules.
  allow(
    ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
    [
      'StepFunctionsGetEventsForSageMakerTrainingJobsRule',
      'StepFunctionsGetEventsForSageMakerTransformJobsRule',
      'StepFunctionsGetEventsForSageMakerProcessingJobsRule',
    ].map((resourceName) => stack.formatArn({ service: 'events', resource: 'rule', resourceName })),
  );
  // Each role only to SageMaker; which model gets which role is the definition's (model-and-transform.ts).
  allow(
    ['iam:PassRole'],
    [
      targets.trainingRole.roleArn,
      targets.hostingRole.roleArn,
      targets.transformRole.roleArn,
      targets.processingRole.roleArn,
    ],
    {
      StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' },
    },
  );
  // Volume and output encryption: SageMaker creates grants on the key for the job's resources.
  grants.push(
    grantKeyForSageMaker(stateMachine, targets.key),
    grantKeyViaService(stateMachine, targets.key, 'ssm', ['kms:Decrypt']),
    grantKeyViaService(stateMachine, targets.key, 'sns', ['kms:GenerateDataKey', 'kms:Decrypt']),
    // The Processing path's task.json (PutObject) and result.json (GetObject) in the SSE-KMS bucket; the
    // S3 Tasks themselves grant s3:PutObject/GetObject on runs/*/tasks/* only.
    grantKeyViaService(stateMachine, targets.key, 's3', ['kms:GenerateDataKey', 'kms:Decrypt']),
  );
  acknowledgeRetrainFindings(stateMachine, targets);
  return grants.reduce((all, grant) => all.combine(grant));
}

/** The wildcards the retrain role keeps, each with its reason (cdk-nag AwsSolutions-IAM5). */
function acknowledgeRetrainFindings(stateMachine: sfn.StateMachine, targets: RetrainGrantTargets): void {
  const role = stateMachine.role;
  const stack = Stack.of(stateMachine);
  acknowledgeFunctionVersions(role, targets.functions);
  const perRun =
    'Every job and model of a run is named <prefix>-<kind>-<runId>; the run id is only known at run time.';
  const finding = (resource: string): string =>
    resourceFinding(
      stateMachine,
      stack.formatArn({ service: 'sagemaker', resource, resourceName: `${targets.resourcePrefix}-*` }),
    );
  acknowledgePolicies(role, {
    [finding('training-job')]: perRun,
    [finding('transform-job')]: perRun,
    [finding('model')]: perRun,
    [finding('processing-job')]: perRun,
    [resourceFinding(stateMachine, taskObjectsArn(targets.dataBucket.bucketName))]:
      "The Processing path's task and result objects, runs/<runId>/tasks/<step>-<attempt>/: the run id is only known at run time.",
    'AwsSolutions-IAM5[Resource::*]':
      'X-Ray tracing (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) and ' +
      'the log delivery of the state machine (logs:CreateLogDelivery and related) have no resource-level permissions.',
  });
}
