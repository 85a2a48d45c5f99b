import { Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { resolveEnvironment } from '../../infra/app';
import { parseDeployConfig } from '../../pipeline/config';
import { REELFLOW_BUNDLING } from '../../infra/constructs/reelflow-function';
import { servingImageTag } from '../../infra/constructs/serving-image';
import { SAGEMAKER_PULL_ACTIONS } from '../../infra/constructs/serving-repository';
import { DEPLOY_STATES } from '../../pipeline/deploy-workflow';
import type { AslDefinition } from '../../pipeline/render';
import { RETRAIN_STATES } from '../../pipeline/retrain-workflow';
import { processingStateNames, TUNING_STATES } from '../../pipeline/retrain/states';
import {
  actionsOf,
  policyStatements,
  resourcesOf,
  statementsOfRole,
  synthApp,
  type SynthesizedApp,
} from './synth-app';

let built: SynthesizedApp;

beforeAll(() => {
  built = synthApp();
});

/**
 * A template value with its intrinsics flattened the way cdk-nag prints them (`arn:<AWS::Partition>:...`,
 * `<Logical.Arn>`), keeping JSON text intact (cdk-nag's own flattener rewrites braces).
 */
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

/** The definition of a state machine of the synthesized stack, with its references as placeholders. */
function definitionOf(logicalIdPrefix: string): AslDefinition {
  const machines = built.template.findResources('AWS::StepFunctions::StateMachine');
  const [, machine] = Object.entries(machines).find(([id]) => id.startsWith(logicalIdPrefix)) ?? [];
  return JSON.parse(flat(machine?.Properties.DefinitionString)) as AslDefinition;
}

describe('ReelflowDataStack', () => {
  it('keeps the logical ids of its stateful resources', () => {
    const ids = (type: string) => Object.keys(built.dataTemplate.findResources(type));
    expect(ids('AWS::KMS::Key')).toEqual(['ReelflowKey']);
    expect(ids('AWS::S3::Bucket').sort()).toEqual(['AccessLogBucket', 'DataBucket']);
    expect(ids('AWS::ECR::Repository')).toEqual(['ServingRepository']);
  });

  it('retains the key, both buckets and the image repository when the stack is deleted', () => {
    for (const id of ['ReelflowKey', 'DataBucket', 'AccessLogBucket', 'ServingRepository']) {
      const resource = built.dataTemplate.toJSON().Resources[id];
      expect(resource).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    }
  });

  it('rotates the customer-managed key and lets CloudWatch Logs and alarms use it', () => {
    built.dataTemplate.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'AllowCloudWatchLogs',
            Condition: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': Match.anyValue() } },
          }),
          Match.objectLike({
            Sid: 'AllowCloudWatchAlarmsToEncryptedTopics',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
          }),
        ]),
      },
    });
  });

  it('lets CloudFormation name every retained resource, so a redeploy after destroy does not collide', () => {
    for (const type of ['AWS::S3::Bucket', 'AWS::ECR::Repository']) {
      for (const resource of Object.values(built.dataTemplate.findResources(type))) {
        expect(resource.Properties.BucketName ?? resource.Properties.RepositoryName).toBeUndefined();
      }
    }
    expect(built.dataTemplate.findOutputs('*').ExportReelflowDataStackDataBucketName).toMatchObject({
      Value: { Ref: 'DataBucket' },
      Export: { Name: 'ReelflowDataStack:DataBucketName' },
    });
  });

  it('keeps termination protection on by default and lets the config turn it off', () => {
    expect(built.dataStack.terminationProtection).toBe(true);
    expect(built.stack.terminationProtection).toBe(false);
    expect(synthApp({ dataStackTerminationProtection: false }).dataStack.terminationProtection).toBe(false);
  });

  describe('serving image repository', () => {
    it('has immutable tags, scans on push and outputs its URI', () => {
      built.dataTemplate.hasResourceProperties('AWS::ECR::Repository', {
        ImageTagMutability: 'IMMUTABLE',
        ImageScanningConfiguration: { ScanOnPush: true },
        // No EncryptionConfiguration: ECR's default, AES256.
        EncryptionConfiguration: Match.absent(),
      });
      expect(built.dataTemplate.findOutputs('ServingRepositoryUri')).toHaveProperty('ServingRepositoryUri');
    });

    it('expires untagged images only, so no rule can remove an image a model references', () => {
      const [repository] = Object.values(built.dataTemplate.findResources('AWS::ECR::Repository'));
      const policy = JSON.parse(repository.Properties.LifecyclePolicy.LifecyclePolicyText as string) as {
        rules: { selection: { tagStatus: string } }[];
      };
      expect(policy.rules.length).toBeGreaterThan(0);
      for (const rule of policy.rules) expect(rule.selection.tagStatus).toBe('untagged');
    });

    it('lets sagemaker.amazonaws.com pull, with exactly the three pull actions and no undocumented condition', () => {
      const [repository] = Object.values(built.dataTemplate.findResources('AWS::ECR::Repository'));
      expect(repository.Properties.RepositoryPolicyText.Statement).toEqual([
        {
          Sid: 'AllowSageMakerInferencePipelinePull',
          Effect: 'Allow',
          Principal: { Service: 'sagemaker.amazonaws.com' },
          Action: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
        },
      ]);
      expect([...SAGEMAKER_PULL_ACTIONS].sort()).toEqual([
        'ecr:BatchCheckLayerAvailability',
        'ecr:BatchGetImage',
        'ecr:GetDownloadUrlForLayer',
      ]);
    });
  });

  it('makes the data bucket versioned, KMS-encrypted, private, access-logged and an EventBridge source', () => {
    built.dataTemplate.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: { 'Fn::GetAtt': ['ReelflowKey', 'Arn'] },
            },
          },
        ],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: {
        DestinationBucketName: { Ref: 'AccessLogBucket' },
        LogFilePrefix: 'data-bucket/',
      },
      NotificationConfiguration: { EventBridgeConfiguration: { EventBridgeEnabled: true } },
    });
  });

  it('expires noncurrent data versions after the configured days and aborts stale multipart uploads', () => {
    const rules = (days: number) => ({
      LifecycleConfiguration: {
        Rules: [
          {
            Status: 'Enabled',
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
            NoncurrentVersionExpiration: { NoncurrentDays: days },
          },
        ],
      },
    });
    const dataBucket = (template: typeof built.dataTemplate) =>
      template.findResources('AWS::S3::Bucket')['DataBucket']?.Properties as Record<string, unknown>;
    expect(dataBucket(built.dataTemplate)).toMatchObject(rules(365));
    expect(dataBucket(synthApp({ dataRetention: { noncurrentVersionDays: 30 } }).dataTemplate)).toMatchObject(
      rules(30),
    );
  });

  it('denies every request to either bucket without TLS 1.2', () => {
    const policies = built.dataTemplate.findResources('AWS::S3::BucketPolicy');
    expect(Object.keys(policies)).toHaveLength(2);
    for (const policy of Object.values(policies)) {
      expect(policy.Properties.PolicyDocument.Statement).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          expect.objectContaining({
            Effect: 'Deny',
            Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
          }),
        ]),
      );
    }
  });

  it('lets S3 deliver access logs from buckets of this account only', () => {
    built.dataTemplate.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: 'AccessLogBucket' },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'AllowAccountServerAccessLogs',
            Principal: { Service: 'logging.s3.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          }),
        ]),
      },
    });
  });
});

describe('ReelflowStack', () => {
  it('outputs where to upload, where to approve and where to look', () => {
    const outputs = built.template.findOutputs('*');
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining([
        'DataBucketName',
        'UploadCommand',
        'RecommendUrl',
        'PipelineConsoleUrl',
        'DashboardUrl',
      ]),
    );
    expect(JSON.stringify(outputs.UploadCommand.Value)).toMatch(/aws s3 cp .* s3:\/\/.*\/ratings\//);
  });

  it('outputs the SageMaker quotas a run needs, blue/green fleets and parallel transforms included', () => {
    expect(built.template.findOutputs('SageMakerQuotas').SageMakerQuotas.Value).toBe(
      'ml.m5.xlarge for training job usage >= 1; ml.m5.xlarge for transform job usage >= 2; ' +
        'ml.m5.large for endpoint usage >= 4; ml.m5.4xlarge for processing job usage >= 1',
    );
  });

  it('outputs what reelflow verify-aws reads', () => {
    expect(Object.keys(built.template.findOutputs('*'))).toEqual(
      expect.arrayContaining([
        'TrainingRoleArn',
        'ModelRoleArn',
        'DataKeyArn',
        'EndpointName',
        'ServingImageUri',
      ]),
    );
  });

  describe('trigger', () => {
    it('starts a run for Object Created and Object Deleted events under ratings/ of the data bucket', () => {
      built.template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: {
          source: ['aws.s3'],
          'detail-type': ['Object Created', 'Object Deleted'],
          detail: {
            bucket: { name: [Match.anyValue()] },
            object: { key: [{ prefix: 'ratings/' }] },
          },
        },
        Targets: [
          Match.objectLike({
            DeadLetterConfig: { Arn: Match.anyValue() },
            RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 21600 },
          }),
        ],
      });
    });

    it('lets start-run only read quarantine/ (to skip a quarantine move), nothing else of the bucket', () => {
      const statements = statementsOfRole(built.template, 'RunTriggerStartRunRole');
      const read = statements.find((s) => actionsOf(s).includes('s3:GetObject'));
      expect(resourcesOf(read!).map(flat)).toEqual([
        expect.stringMatching(/DataBucketName>\/quarantine\/\*$/),
      ]);
      expect(statements.some((s) => actionsOf(s).some((a) => /s3:(Put|Delete)/.test(a)))).toBe(false);
    });

    it('lets start-run start only the release pipeline, which it names by environment', () => {
      const statements = statementsOfRole(built.template, 'RunTriggerStartRunRole');
      const start = statements.find((s) => actionsOf(s).includes('codepipeline:StartPipelineExecution'));
      expect(flat(start?.Resource)).toMatch(
        /^arn:<AWS::Partition>:codepipeline:<AWS::Region>:<AWS::AccountId>:<.*Pipeline/,
      );
      built.template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({
            PIPELINE_NAME: { Ref: Match.stringLikeRegexp('^ReleasePipeline') },
            RATINGS_PREFIX: 'ratings/',
          }),
        },
      });
    });
  });

  describe('recommend API', () => {
    it('requires user_id and validates requests before invoking the function', () => {
      built.template.hasResourceProperties('AWS::ApiGateway::Method', {
        HttpMethod: 'GET',
        RequestParameters: { 'method.request.querystring.user_id': true },
        RequestValidatorId: { Ref: Match.stringLikeRegexp('QueryValidator') },
        Integration: { Type: 'AWS_PROXY' },
      });
      built.template.hasResourceProperties('AWS::ApiGateway::Resource', { PathPart: 'recommendEndpoint' });
      built.template.hasResourceProperties('AWS::ApiGateway::RequestValidator', {
        ValidateRequestParameters: true,
      });
    });

    it('answers a missing user_id with a JSON 400', () => {
      built.template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: 'BAD_REQUEST_PARAMETERS',
        StatusCode: '400',
        ResponseTemplates: { 'application/json': '{"message":"Missing user_id query string parameter"}' },
      });
    });

    it('throttles the stage from config, logs access as JSON, and traces', () => {
      built.template.hasResourceProperties('AWS::ApiGateway::Stage', {
        StageName: 'prod',
        TracingEnabled: true,
        AccessLogSetting: {
          DestinationArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('RecommendApiAccessLogs'), 'Arn'] },
          Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"'),
        },
        MethodSettings: [
          Match.objectLike({
            HttpMethod: '*',
            ResourcePath: '/*',
            ThrottlingRateLimit: 50,
            ThrottlingBurstLimit: 100,
            LoggingLevel: 'INFO',
            MetricsEnabled: true,
          }),
        ],
      });
    });

    it('reserves the configured concurrency for the recommend function (default 50)', () => {
      const recommend = {
        Environment: { Variables: Match.objectLike({ ENDPOINT_NAME: 'reelflow-recommender' }) },
      };
      built.template.hasResourceProperties('AWS::Lambda::Function', {
        ...recommend,
        ReservedConcurrentExecutions: 50,
      });
      const custom = synthApp({ api: { reservedConcurrency: 7 } });
      custom.template.hasResourceProperties('AWS::Lambda::Function', {
        ...recommend,
        ReservedConcurrentExecutions: 7,
      });
    });

    it('lets the recommend function invoke the one configured endpoint, which the stack does not own', () => {
      const statements = statementsOfRole(built.template, 'RecommendApiHandlerRole');
      const invoke = statements.find((s) => actionsOf(s).includes('sagemaker:InvokeEndpoint'));
      expect(flat(invoke?.Resource)).toBe(
        'arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:endpoint/reelflow-recommender',
      );
      built.template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ ENDPOINT_NAME: 'reelflow-recommender' }) },
      });
    });
  });

  describe('Lambda functions', () => {
    /** The project's functions (not aws-cdk-lib's LogRetention provider, which runs its own runtime). */
    const projectFunctions = () =>
      Object.entries(built.template.findResources('AWS::Lambda::Function'))
        .filter(([id]) => !id.startsWith('LogRetention'))
        .map(([, fn]) => fn);

    it('run Node.js 22 on arm64 with tracing and their own log group', () => {
      const functions = projectFunctions();
      expect(functions).toHaveLength(9);
      for (const fn of functions) {
        expect(fn.Properties).toMatchObject({
          Runtime: 'nodejs22.x',
          Architectures: ['arm64'],
          TracingConfig: { Mode: 'Active' },
          LoggingConfig: { LogGroup: { Ref: expect.stringMatching(/Logs/) } },
        });
      }
    });

    it('stay within the 3008 MB a new account allows, by default', () => {
      const functions = Object.values(built.template.findResources('AWS::Lambda::Function'));
      const memory = functions.map((fn) => (fn.Properties.MemorySize as number | undefined) ?? 128);
      expect(Math.max(...memory)).toBe(3008);
    });

    it('use the configured workflow memory once the account quota allows it', () => {
      const big = synthApp({ workflowMemoryMb: 10240, lambdaMemoryQuotaMb: 10240 });
      big.template.hasResourceProperties('AWS::Lambda::Function', {
        MemorySize: 10240,
        Environment: { Variables: Match.objectLike({ RATINGS_PREFIX: 'ratings/' }) },
      });
    });

    it('bundle everything, the AWS SDK included (test/infra/bundling.test.ts checks the bundles)', () => {
      expect(REELFLOW_BUNDLING.externalModules).toEqual([]);
    });

    it('do not use the AWS managed basic execution role (it writes to every log group)', () => {
      const roles = Object.values(built.template.findResources('AWS::IAM::Role'));
      for (const role of roles) {
        expect(JSON.stringify(role.Properties.ManagedPolicyArns ?? [])).not.toContain(
          'AWSLambdaBasicExecutionRole',
        );
      }
    });
  });

  describe('encryption', () => {
    it('encrypts every log group with the project key and keeps logs for the configured days', () => {
      const groups = Object.values(built.template.findResources('AWS::Logs::LogGroup'));
      expect(groups.length).toBeGreaterThanOrEqual(12);
      for (const group of groups) {
        expect(group.Properties).toMatchObject({
          KmsKeyId: { 'Fn::ImportValue': expect.stringContaining('ReelflowKey') },
          RetentionInDays: 30,
        });
      }
    });

    it('encrypts both topics and refuses publishing without TLS', () => {
      const topics = Object.values(built.template.findResources('AWS::SNS::Topic'));
      expect(topics).toHaveLength(2);
      for (const topic of topics) {
        expect(topic.Properties.KmsMasterKeyId).toEqual({
          'Fn::ImportValue': expect.stringContaining('ReelflowKey'),
        });
      }
      const policies = Object.values(built.template.findResources('AWS::SNS::TopicPolicy'));
      for (const policy of policies) {
        expect(policy.Properties.PolicyDocument.Statement).toEqual(
          expect.arrayContaining([
            expect.objectContaining({
              Effect: 'Deny',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        );
      }
    });

    it('encrypts the dead-letter queue with SQS-managed keys, so EventBridge and Lambda can deliver to it', () => {
      const queues = Object.entries(built.template.findResources('AWS::SQS::Queue'));
      expect(queues).toHaveLength(1);
      const [[queueId, queue]] = queues;
      expect(queue.Properties).toMatchObject({ SqsManagedSseEnabled: true });
      expect(queue.Properties.KmsMasterKeyId).toBeUndefined();
      // EventBridge delivers through the queue policy, the start-run function through its role.
      built.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: queueId }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Allow',
              Principal: { Service: 'events.amazonaws.com' },
              Action: 'sqs:SendMessage',
            }),
          ]),
        },
      });
      const send = statementsOfRole(built.template, 'RunTriggerStartRunRole').find((s) =>
        actionsOf(s).includes('sqs:SendMessage'),
      );
      expect(send?.Resource).toEqual({ 'Fn::GetAtt': [queueId, 'Arn'] });
    });
  });

  describe('service log groups', () => {
    it('get the configured retention, created if missing and kept if they already exist', () => {
      const retentions = Object.values(built.template.findResources('Custom::LogRetention')).map((r) => ({
        name: flat(r.Properties.LogGroupName),
        days: r.Properties.RetentionInDays as number,
      }));
      expect(retentions).toEqual(
        expect.arrayContaining([
          { name: '/aws/sagemaker/TrainingJobs', days: 30 },
          { name: '/aws/sagemaker/TransformJobs', days: 30 },
          { name: '/aws/sagemaker/Endpoints/reelflow-recommender', days: 30 },
          { name: expect.stringMatching(/^API-Gateway-Execution-Logs_<RecommendApi.*>\/prod$/), days: 30 },
        ]),
      );
      expect(retentions).toHaveLength(4);
    });

    it('run the retention function with a role scoped to those groups and its own encrypted log group', () => {
      const [fnId, fn] = Object.entries(built.template.findResources('AWS::Lambda::Function')).find(([id]) =>
        id.startsWith('LogRetention'),
      )!;
      expect(fnId).toBeDefined();
      expect(flat(fn.Properties.Role)).toMatch(/^<ServiceLogRetentionRole.*\.Arn>$/);
      expect(flat(fn.Properties.LoggingConfig.LogGroup)).toMatch(/^<ServiceLogRetentionFunctionLogs/);
      const scoped = statementsOfRole(built.template, 'ServiceLogRetentionRole').find((s) =>
        actionsOf(s).includes('logs:CreateLogGroup'),
      );
      expect(resourcesOf(scoped!).map(flat)).toEqual(
        expect.arrayContaining([
          'arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/TrainingJobs',
        ]),
      );
    });
  });

  describe('no drift', () => {
    it('owns no SageMaker model, endpoint config or endpoint, and no production parameter', () => {
      for (const type of [
        'AWS::SageMaker::Model',
        'AWS::SageMaker::EndpointConfig',
        'AWS::SageMaker::Endpoint',
        'AWS::SSM::Parameter',
      ]) {
        built.template.resourceCountIs(type, 0);
        built.dataTemplate.resourceCountIs(type, 0);
      }
    });
  });

  describe('rollback alarms', () => {
    it.each([
      ['reelflow-recommender-rollback-5xx', 'Invocation5XXErrors', 'Sum', 5],
      ['reelflow-recommender-rollback-model-latency-p99', 'ModelLatency', 'p99', 500_000],
    ])('watches the endpoint: %s', (name, metric, statistic, threshold) => {
      built.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: name,
        Namespace: 'AWS/SageMaker',
        MetricName: metric,
        Dimensions: Match.arrayWith([
          { Name: 'EndpointName', Value: 'reelflow-recommender' },
          { Name: 'VariantName', Value: 'AllTraffic' },
        ]),
        Period: 60,
        Threshold: threshold,
        EvaluationPeriods: 2,
        TreatMissingData: 'notBreaching',
        ...(statistic === 'Sum' ? { Statistic: 'Sum' } : { ExtendedStatistic: 'p99' }),
        AlarmActions: [{ Ref: Match.stringLikeRegexp('NotificationsAlerts') }],
      });
    });

    it("watches the recommend API's 5XX rate", () => {
      built.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: 'reelflow-recommender-rollback-api-5xx-rate',
        Namespace: 'AWS/ApiGateway',
        MetricName: '5XXError',
        Statistic: 'Average',
        Threshold: 0.05,
        Dimensions: Match.arrayWith([{ Name: 'Stage', Value: 'prod' }]),
      });
    });
  });

  describe('monitoring', () => {
    it('has a dashboard with runs, stage durations, endpoint, API and model metrics per version', () => {
      const [dashboard] = Object.values(built.template.findResources('AWS::CloudWatch::Dashboard'));
      const body = flat(dashboard.Properties.DashboardBody);
      for (const title of [
        'Runs: retrain executions',
        'Runs: deploy executions',
        'Stage durations: workflows (ms)',
        'Stage durations: data steps (ms)',
        'Endpoint: invocations and errors',
        'Endpoint: model latency (microseconds)',
        'API: requests and errors',
        'Model metric per version: ndcg@10',
        'Model metric per version: recall@10',
      ]) {
        expect(body).toContain(title);
      }
      expect(body).toContain(
        `SEARCH('{Reelflow,Model,RunId,service} MetricName=\\"ndcg_at_10\\"', 'Maximum', 86400)`,
      );
    });

    it('alarms on undeliverable uploads, recommend function errors and timed-out workflows', () => {
      for (const metric of ['ApproximateNumberOfMessagesVisible', 'Errors', 'ExecutionsTimedOut']) {
        built.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          MetricName: metric,
          AlarmActions: [{ Ref: Match.stringLikeRegexp('NotificationsAlerts') }],
        });
      }
    });
  });

  describe('state machines', () => {
    it('are Standard workflows that log errors and trace', () => {
      const machines = Object.values(built.template.findResources('AWS::StepFunctions::StateMachine'));
      expect(machines).toHaveLength(2);
      for (const machine of machines) {
        expect(machine.Properties).toMatchObject({
          StateMachineType: 'STANDARD',
          TracingConfiguration: { Enabled: true },
          // Errors only, no execution data: the defaults of workflowLogs (test/infra/account-security.test.ts).
          LoggingConfiguration: { Level: 'ERROR', IncludeExecutionData: false },
        });
      }
    });

    it('deploy the retrain definition with its states and SageMaker .sync integrations', () => {
      const definition = definitionOf('RetrainStateMachine');
      const processingPaths = [
        RETRAIN_STATES.prepare,
        RETRAIN_STATES.buildVectors,
        RETRAIN_STATES.evaluate,
      ].flatMap((step) => Object.values(processingStateNames(step)));
      expect(Object.keys(definition.States).sort()).toEqual(
        [
          ...Object.values(RETRAIN_STATES).filter(
            (name) =>
              !['TransformCandidate', 'TransformProduction'].includes(name) &&
              // The search's states exist only with tuning.enabled (off by default).
              !(Object.values(TUNING_STATES) as string[]).includes(name) &&
              // TrainIALS replaces TrainFM with ml.trainer ials (fm by default; test/infra/ials.test.ts).
              name !== RETRAIN_STATES.trainIals,
          ),
          ...processingPaths,
        ].sort(),
      );
      expect(definition.States.TrainFM.Resource).toBe(
        'arn:<AWS::Partition>:states:::sagemaker:createTrainingJob.sync',
      );
      expect(definition.States.TrainFM.Parameters).toMatchObject({ EnableNetworkIsolation: true });
    });

    it("create each run's model with the serving image from the project repository, by content tag", () => {
      expect(servingImageTag()).toMatch(/^sha-[0-9a-f]{64}$/);
      const machines = built.template.findResources('AWS::StepFunctions::StateMachine');
      const [, retrain] = Object.entries(machines).find(([id]) => id.startsWith('RetrainStateMachine'))!;
      const definition = JSON.stringify(retrain.Properties.DefinitionString);
      expect(definition).toMatch(/:sha-[0-9a-f]{64}\b/);
      expect(definition).toContain('ReelflowDataStack:ExportsOutputRefServingRepository');
      expect(definition).not.toContain('cdk-hnb659fds-container-assets');
      const pull = statementsOfRole(built.template, 'SageMakerRolesModelRole').find((s) =>
        actionsOf(s).includes('ecr:BatchGetImage'),
      );
      expect(flat(pull?.Resource)).toBe(
        '<import:ReelflowDataStack:ExportsOutputFnGetAttServingRepositoryArnAC449EAD>',
      );
    });

    it('deploy the deploy definition with UpdateEndpoint as an SDK call carrying the guardrails', () => {
      const definition = definitionOf('DeployStateMachine');
      expect(Object.keys(definition.States).sort()).toEqual(Object.values(DEPLOY_STATES).sort());
      expect(definition.States.UpdateEndpoint).toMatchObject({
        Resource: 'arn:<AWS::Partition>:states:::aws-sdk:sagemaker:updateEndpoint',
        Parameters: {
          DeploymentConfig: {
            BlueGreenUpdatePolicy: {
              TrafficRoutingConfiguration: {
                Type: 'CANARY',
                CanarySize: { Type: 'INSTANCE_COUNT', Value: 1 },
              },
            },
            AutoRollbackConfiguration: {
              Alarms: [
                { AlarmName: 'reelflow-recommender-rollback-5xx' },
                { AlarmName: 'reelflow-recommender-rollback-model-latency-p99' },
                { AlarmName: 'reelflow-recommender-rollback-api-5xx-rate' },
              ],
            },
          },
        },
      });
    });
  });

  describe('IAM', () => {
    const RESOURCE_LESS_ACTIONS = new Set([
      'xray:PutTraceSegments',
      'xray:PutTelemetryRecords',
      'xray:GetSamplingRules',
      'xray:GetSamplingTargets',
      'codepipeline:PutJobSuccessResult',
      'codepipeline:PutJobFailureResult',
      'lambda:ListFunctions',
      'ecr:GetAuthorizationToken',
      'cloudwatch:PutMetricData',
      // Step Functions logging to CloudWatch Logs (vended log delivery).
      'logs:CreateLogDelivery',
      'logs:GetLogDelivery',
      'logs:UpdateLogDelivery',
      'logs:DeleteLogDelivery',
      'logs:ListLogDeliveries',
      'logs:PutResourcePolicy',
      'logs:DescribeResourcePolicies',
      'logs:DescribeLogGroups',
    ]);

    it('uses Resource "*" only for actions that allow no resource', () => {
      // Except aws-cdk-lib's LogRetention provider, which always adds its retention actions on * (the
      // same role also holds them scoped to the project's groups; see the service log groups tests).
      const starred = policyStatements(built.template).filter(
        ({ policy, statement }) =>
          resourcesOf(statement).includes('*') &&
          !(
            policy.startsWith('ServiceLogRetentionRole') &&
            actionsOf(statement).every((a) =>
              ['logs:PutRetentionPolicy', 'logs:DeleteRetentionPolicy'].includes(a),
            )
          ),
      );
      expect(starred.length).toBeGreaterThan(0);
      for (const { policy, statement } of starred) {
        for (const action of actionsOf(statement)) {
          expect({ policy, action, allowed: RESOURCE_LESS_ACTIONS.has(action) }).toEqual({
            policy,
            action,
            allowed: true,
          });
        }
      }
    });

    it('limits cloudwatch:PutMetricData to the SageMaker namespaces', () => {
      const putMetric = policyStatements(built.template).filter(({ statement }) =>
        actionsOf(statement).includes('cloudwatch:PutMetricData'),
      );
      // The training, hosting, transform and processing roles.
      expect(putMetric).toHaveLength(4);
      for (const { statement } of putMetric) {
        expect(statement.Condition).toEqual({ StringLike: { 'cloudwatch:namespace': '/aws/sagemaker/*' } });
      }
    });

    it('lets the CodeBuild projects use the project key only through S3 (kms:ViaService)', () => {
      const kmsStatements = policyStatements(built.template).filter(
        ({ policy, statement }) =>
          /^Release(Checks|ServingImageBuild)Role/.test(policy) &&
          actionsOf(statement).some((a) => a.startsWith('kms:')),
      );
      expect(new Set(kmsStatements.map(({ policy }) => policy.replace(/DefaultPolicy.*$/, ''))).size).toBe(2);
      for (const { statement } of kmsStatements) {
        expect(
          flat(
            (statement.Condition as Record<string, Record<string, unknown>>)?.StringEquals?.[
              'kms:ViaService'
            ] ?? '',
          ),
        ).toBe('s3.<AWS::Region>.<AWS::URLSuffix>');
      }
    });

    it('passes roles only to SageMaker', () => {
      const passRole = policyStatements(built.template).filter(({ statement }) =>
        actionsOf(statement).includes('iam:PassRole'),
      );
      expect(passRole.length).toBeGreaterThan(0);
      for (const { statement } of passRole) {
        expect(statement.Condition).toEqual({
          StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' },
        });
      }
    });

    it('scopes data bucket objects to the runs/, ratings/, quarantine/, withdrawn/ and verify/ prefixes', () => {
      const objectStatements = policyStatements(built.template).filter(({ statement }) =>
        actionsOf(statement).some((a) => ['s3:GetObject', 's3:PutObject'].includes(a)),
      );
      const dataBucketResources = objectStatements
        .flatMap(({ statement }) => resourcesOf(statement).map(flat))
        .filter((resource) => resource.includes('<import:ReelflowDataStack:DataBucketName>'));
      expect(dataBucketResources.length).toBeGreaterThan(0);
      // A prefix, or (the SageMaker model roles) a key pattern within runs/<id>/ or verify/<id>/.
      for (const resource of dataBucketResources)
        expect(resource).toMatch(
          /\/((runs|ratings|quarantine|withdrawn|verify)\/\*|(runs|verify)\/\*\/[a-z/*-]+(\.tar\.gz|\/\*))$/,
        );
    });

    it('lets only the SageMaker roles reach verify/ (the one-off jobs of reelflow verify-aws)', () => {
      const verifyPolicies = policyStatements(built.template)
        .filter(({ statement }) =>
          resourcesOf(statement)
            .map(flat)
            .some((r) => r.endsWith('/verify/*')),
        )
        .map(({ policy }) => policy);
      expect(verifyPolicies.length).toBeGreaterThan(0);
      for (const policy of verifyPolicies) expect(policy).toMatch(/^SageMakerRoles(TrainingRole|ModelRole)/);
    });

    it('limits the prepare function to ratings/, runs/, quarantine/ and withdrawn/', () => {
      const statements = statementsOfRole(built.template, 'WorkflowFunctionsPrepareRole');
      const read = statements.find((s) => actionsOf(s).includes('s3:GetObject'));
      const write = statements.find((s) => actionsOf(s).includes('s3:PutObject'));
      const remove = statements.filter((s) => actionsOf(s).includes('s3:DeleteObject'));
      expect(resourcesOf(read!).map(flat)).toEqual([
        expect.stringMatching(/DataBucketName>\/ratings\/\*$/),
        expect.stringMatching(/DataBucketName>\/runs\/\*$/),
        expect.stringMatching(/DataBucketName>\/quarantine\/\*$/),
        expect.stringMatching(/DataBucketName>\/withdrawn\/\*$/),
      ]);
      expect(resourcesOf(write!).map(flat)).toEqual([
        expect.stringMatching(/\/runs\/\*$/),
        expect.stringMatching(/\/quarantine\/\*$/),
      ]);
      // Only the quarantine move deletes, and only under ratings/ (the versioned bucket keeps the version).
      expect(remove.flatMap((s) => resourcesOf(s).map(flat))).toEqual([
        expect.stringMatching(/DataBucketName>\/ratings\/\*$/),
      ]);
      expect(remove.flatMap(actionsOf)).toEqual(['s3:DeleteObject']);
      const list = statements.find((s) => actionsOf(s).includes('s3:ListBucket'));
      expect(list?.Condition).toEqual({
        StringLike: {
          's3:prefix': [
            'ratings/',
            'ratings/*',
            'runs/',
            'runs/*',
            'quarantine/',
            'quarantine/*',
            'withdrawn/',
            'withdrawn/*',
          ],
        },
      });
    });

    it('scopes the retrain workflow to its own training jobs, transform jobs and models', () => {
      const statements = statementsOfRole(built.template, 'RetrainStateMachineRole');
      const resourcesFor = (action: string) =>
        statements.filter((s) => actionsOf(s).includes(action)).flatMap((s) => resourcesOf(s).map(flat));
      const arn = 'arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>';
      expect(resourcesFor('sagemaker:CreateTrainingJob')).toEqual([`${arn}:training-job/reelflow-*`]);
      expect(resourcesFor('sagemaker:CreateTransformJob')).toEqual([`${arn}:transform-job/reelflow-*`]);
      expect(resourcesFor('sagemaker:CreateModel')).toEqual([`${arn}:model/reelflow-*`]);
      expect(resourcesFor('ssm:getParameter')).toEqual([
        'arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/reelflow/production-model',
      ]);
      expect(resourcesFor('sagemaker:UpdateEndpoint')).toEqual([]);
    });

    it('scopes the deploy workflow to the one endpoint, its configs and the rollback alarms', () => {
      const statements = statementsOfRole(built.template, 'DeployStateMachineRole');
      const resourcesFor = (action: string) =>
        statements
          .filter((s) => actionsOf(s).some((a) => a.toLowerCase() === action.toLowerCase()))
          .flatMap((s) => resourcesOf(s).map(flat));
      const arn = 'arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>';
      expect(resourcesFor('sagemaker:updateEndpoint')).toEqual([
        `${arn}:endpoint/reelflow-recommender`,
        `${arn}:endpoint-config/reelflow-*`,
      ]);
      expect(resourcesFor('sagemaker:describeEndpoint')).toEqual([`${arn}:endpoint/reelflow-recommender`]);
      expect(resourcesFor('sagemaker:CreateEndpointConfig')).toEqual([`${arn}:endpoint-config/reelflow-*`]);
      expect(resourcesFor('cloudwatch:DescribeAlarms')).toEqual(
        expect.arrayContaining([
          'arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:reelflow-recommender-rollback-5xx',
        ]),
      );
      expect(resourcesFor('sagemaker:CreateTrainingJob')).toEqual([]);
    });

    it('lets only the record-deployment function write the production parameter', () => {
      const writers = policyStatements(built.template).filter(({ statement }) =>
        actionsOf(statement).includes('ssm:PutParameter'),
      );
      expect(writers).toHaveLength(1);
      expect(writers[0].policy).toMatch(/^WorkflowFunctionsRecordDeploymentRole/);
      expect(flat(writers[0].statement.Resource)).toBe(
        'arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/reelflow/production-model',
      );
    });
  });
});

describe('cdk-nag', () => {
  it('reports no unacknowledged AwsSolutions finding', () => {
    const report = new AwsSolutionsChecks().validateScope(built.app);
    expect(report.violations.map((v) => `${v.ruleName} ${v.violatingResources[0]?.constructPath}`)).toEqual(
      [],
    );
  });

  it('acknowledges findings with a written reason each', () => {
    const acknowledgements = [built.dataStack, built.stack].flatMap((stack) =>
      stack.node
        .findAll()
        .flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:acknowledged-rules'))
        .flatMap((m) => Object.entries(m.data as Record<string, string>)),
    );
    expect(acknowledgements.length).toBeGreaterThan(0);
    for (const [id, reason] of acknowledgements) {
      expect({ id, explained: reason.length > 30 }).toEqual({ id, explained: true });
    }
  });
});

describe('configuration', () => {
  it('fails synth with a message naming the bad key', () => {
    expect(() => synthApp({ endpoint: { instanceCount: 1 } })).toThrow(
      /^invalid config reelflow\.endpoint\.instanceCount: CANARY traffic routing needs at least 2 instances/,
    );
    expect(() => synthApp({ alarms: { modelLatencyP99Ms: -5 } })).toThrow(
      /invalid config reelflow\.alarms\.modelLatencyP99Ms/,
    );
  });
});

describe('resolveEnvironment', () => {
  it('prefers the config, then the CLI defaults, and ignores empty values', () => {
    const config = parseDeployConfig({});
    expect(
      resolveEnvironment(config, { CDK_DEFAULT_ACCOUNT: '111111111111', CDK_DEFAULT_REGION: 'eu-west-1' }),
    ).toEqual({
      account: '111111111111',
      region: 'eu-west-1',
    });
    expect(resolveEnvironment({ ...config, account: '222222222222', region: 'us-west-2' }, {})).toEqual({
      account: '222222222222',
      region: 'us-west-2',
    });
    expect(resolveEnvironment(config, { CDK_DEFAULT_REGION: '' })).toEqual({
      account: undefined,
      region: undefined,
    });
  });

  it('is the env of both stacks', () => {
    expect(Stack.of(built.stack).region).toBe(Stack.of(built.dataStack).region);
  });
});
