/**
 * The data steps' Processing path as deployed (issue 11): the Processing Task and its Choice in the
 * synthesized retrain definition, the processing role's policy, the retrain role's grants for the jobs
 * and the S3 Tasks, PlanRun's list-only role, and multi-instance training with sharded input.
 */
import { Match } from 'aws-cdk-lib/assertions';
import type { AslDefinition } from '../../pipeline/render';
import { actionsOf, resourcesOf, statementsOfRole, synthApp, type SynthesizedApp } from './synth-app';

let built: SynthesizedApp;
beforeAll(() => {
  built = synthApp({ training: { fmInstanceCount: 4, knnInstanceCount: 2 } });
});

/** A template value with its intrinsics flattened (`<Logical.Arn>`, `<import:X>`, `<AWS::Partition>`). */
function flat(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(flat).join(',');
  const [[name, arg]] = Object.entries(value as Record<string, unknown>);
  if (name === 'Fn::Join') return (arg as [string, unknown[]])[1].map(flat).join((arg as [string])[0]);
  if (name === 'Ref') return `<${String(arg)}>`;
  if (name === 'Fn::ImportValue') return `<import:${flat(arg)}>`;
  if (name === 'Fn::GetAtt') return `<${(arg as string[]).join('.')}>`;
  return `<${name}>`;
}

function retrainDefinition(): AslDefinition {
  const machines = built.template.findResources('AWS::StepFunctions::StateMachine');
  const [, retrain] = Object.entries(machines).find(([id]) => id.startsWith('RetrainStateMachine'))!;
  return JSON.parse(flat(retrain.Properties.DefinitionString)) as AslDefinition;
}

/** The role's statements as { actions, resources (flattened), condition }. */
function grants(rolePrefix: string) {
  return statementsOfRole(built.template, rolePrefix).map((s) => ({
    actions: actionsOf(s),
    resources: resourcesOf(s).map(flat),
    condition: s.Condition as Record<string, unknown> | undefined,
  }));
}

const BUCKET = 'arn:<AWS::Partition>:s3:::<import:ReelflowDataStack:DataBucketName>';
const PROCESSING_ROLE_ARN = /^<SageMakerRolesProcessingRole[0-9A-F]+\.Arn>$/;

describe('the retrain definition as synthesized', () => {
  it('chooses between the Lambda and the Processing job on $.plan.mode for each data step', () => {
    const definition = retrainDefinition();
    expect(definition.States.LoadConfig.Next).toBe('PlanRun');
    expect(definition.States.PlanRun).toMatchObject({
      Type: 'Task',
      ResultPath: '$.plan',
      Next: 'PrepareWhere?',
    });
    for (const step of ['Prepare', 'BuildVectors', 'Evaluate']) {
      expect(definition.States[`${step}Where?`]).toEqual({
        Type: 'Choice',
        Choices: [{ Variable: '$.plan.mode', StringEquals: 'processing', Next: `${step}Payload` }],
        Default: step,
      });
    }
  });

  it('creates a Processing job of the project image with the request the contract names', () => {
    const state = retrainDefinition().States.EvaluateProcessing;
    expect(state).toMatchObject({
      Type: 'Task',
      Resource: 'arn:<AWS::Partition>:states:::sagemaker:createProcessingJob.sync',
      Parameters: {
        'ProcessingJobName.$': '$.plan.names.evaluateJob',
        RoleArn: expect.stringMatching(PROCESSING_ROLE_ARN) as unknown,
        AppSpecification: {
          ContainerEntrypoint: ['node', '/app/processing.js'],
          ContainerArguments: ['evaluate'],
        },
        ProcessingResources: { ClusterConfig: { InstanceCount: 1, InstanceType: 'ml.m5.4xlarge' } },
        Environment: {
          DATA_BUCKET: '<import:ReelflowDataStack:DataBucketName>',
          REELFLOW_PROCESSING_STEP: 'evaluate',
        },
        NetworkConfig: { EnableNetworkIsolation: false },
      },
    });
  });

  it('trains on the instance counts the data steps return, the train channels sharded by S3 key', () => {
    const { TrainFM, TrainKNN } = retrainDefinition().States;
    expect(TrainFM.Parameters).toMatchObject({
      ResourceConfig: { 'InstanceCount.$': '$.prepared.training.fmInstanceCount' },
      EnableInterContainerTrafficEncryption: true,
      InputDataConfig: [
        { ChannelName: 'train', DataSource: { S3DataSource: { S3DataDistributionType: 'ShardedByS3Key' } } },
        { ChannelName: 'test', DataSource: { S3DataSource: { S3DataDistributionType: 'FullyReplicated' } } },
      ],
    });
    expect(TrainKNN.Parameters).toMatchObject({
      ResourceConfig: { 'InstanceCount.$': '$.vectors.knnInstanceCount' },
      InputDataConfig: [{ DataSource: { S3DataSource: { S3DataDistributionType: 'ShardedByS3Key' } } }],
    });
  });
});

describe('permissions of the Processing path', () => {
  it('lets the processing role touch only what the data Lambdas touch, KMS through S3', () => {
    const role = grants('SageMakerRolesProcessingRole');
    const s3 = role.filter((g) => g.actions.some((a) => a.startsWith('s3:')));
    expect(s3).toEqual(
      expect.arrayContaining([
        {
          actions: ['s3:GetObject', 's3:GetObjectVersion'],
          resources: ['ratings', 'runs', 'quarantine', 'withdrawn'].map((p) => `${BUCKET}/${p}/*`),
          condition: undefined,
        },
        {
          actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
          resources: [`${BUCKET}/runs/*`, `${BUCKET}/quarantine/*`],
          condition: undefined,
        },
        { actions: ['s3:DeleteObject'], resources: [`${BUCKET}/ratings/*`], condition: undefined },
      ]),
    );
    expect(s3.flatMap((g) => g.actions).sort()).toEqual(
      [
        's3:AbortMultipartUpload',
        's3:DeleteObject',
        's3:GetObject',
        's3:GetObjectVersion',
        's3:ListBucket',
        's3:PutObject',
      ].sort(),
    );
    const kmsData = role.find((g) => g.actions.includes('kms:GenerateDataKey'));
    const via = (kmsData?.condition?.StringEquals as Record<string, unknown>)['kms:ViaService'];
    expect(flat(via)).toBe('s3.<AWS::Region>.<AWS::URLSuffix>');
    expect(role.flatMap((g) => g.actions)).toEqual(
      expect.arrayContaining(['ecr:BatchGetImage', 'ecr:GetAuthorizationToken', 'logs:PutLogEvents']),
    );
    const logs = role.find((g) => g.actions.includes('logs:PutLogEvents'));
    expect(logs?.resources.join(' ')).toContain('log-group:/aws/sagemaker/ProcessingJobs');
  });

  it('lets the retrain role run, watch and stop the jobs of its prefix and pass only the processing role', () => {
    const role = grants('RetrainStateMachineRole');
    const processing = role.find((g) => g.actions.includes('sagemaker:CreateProcessingJob'));
    expect(processing?.actions.sort()).toEqual([
      'sagemaker:CreateProcessingJob',
      'sagemaker:DescribeProcessingJob',
      'sagemaker:StopProcessingJob',
    ]);
    expect(processing?.resources).toEqual([
      'arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:processing-job/reelflow-*',
    ]);
    const rules = role.find((g) => g.actions.includes('events:PutRule'));
    expect(rules?.resources.join(' ')).toContain('rule/StepFunctionsGetEventsForSageMakerProcessingJobsRule');
    const pass = role.find((g) => g.actions.includes('iam:PassRole'));
    expect(pass?.resources).toEqual(expect.arrayContaining([expect.stringMatching(PROCESSING_ROLE_ARN)]));
    expect(pass?.condition).toEqual({ StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } });
    const tasks = role.filter((g) => g.actions.some((a) => /^s3:(put|get)Object$/i.test(a)));
    expect(tasks.map((g) => [g.actions, g.resources])).toEqual(
      expect.arrayContaining([
        [['s3:putObject'], [`${BUCKET}/runs/*/tasks/*`]],
        [['s3:getObject'], [`${BUCKET}/runs/*/tasks/*`]],
      ]),
    );
  });

  it('lets PlanRun list ratings/ and nothing else', () => {
    const role = grants('WorkflowFunctionsPlanRunRole').filter(
      (g) => !g.actions.some((a) => /^(logs|xray):/.test(a)),
    );
    expect(role).toEqual([
      {
        actions: ['s3:ListBucket'],
        resources: [BUCKET],
        condition: { StringLike: { 's3:prefix': ['ratings/', 'ratings/*'] } },
      },
    ]);
    built.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('PlanRun|Processing jobs'),
      Environment: { Variables: Match.objectLike({ RATINGS_PREFIX: 'ratings/' }) },
    });
  });
});
