import * as fs from 'node:fs';
import * as path from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { SOURCE_EXCLUDES, STAGES } from '../../pipeline/release-pipeline';
import { actionsOf, resourcesOf, statementsOfRole, synthApp, type SynthesizedApp } from '../infra/synth-app';

let built: SynthesizedApp;
let pipeline: Record<string, unknown>;
let stages: { Name: string; Actions: Record<string, unknown>[] }[];

beforeAll(() => {
  built = synthApp({ approval: { email: 'ops@example.com', timeoutMinutes: 1440 } });
  [pipeline] = Object.values(built.template.findResources('AWS::CodePipeline::Pipeline')).map(
    (r) => r.Properties,
  );
  stages = pipeline.Stages as typeof stages;
});

const action = (stage: string, name: string) =>
  stages.find((s) => s.Name === stage)?.Actions.find((a) => a.Name === name) as Record<
    string,
    Record<string, unknown>
  >;

describe('release pipeline', () => {
  it('is a V2 pipeline in SUPERSEDED mode with the trigger variables', () => {
    expect(pipeline).toMatchObject({
      PipelineType: 'V2',
      ExecutionMode: 'SUPERSEDED',
      RestartExecutionOnUpdate: false,
      Variables: [
        { Name: 'triggerKey', DefaultValue: 'manual', Description: expect.any(String) },
        { Name: 'triggerVersionId', DefaultValue: 'unknown', Description: expect.any(String) },
      ],
    });
  });

  it('runs Source, Checks, Retrain, Approve, Deploy in that order with the expected actions', () => {
    expect(stages.map((s) => s.Name)).toEqual([...STAGES]);
    expect(
      stages.map((s) =>
        s.Actions.map((a) => `${(a.ActionTypeId as Record<string, string>).Provider}@${a.RunOrder}`),
      ),
    ).toEqual([
      ['S3@1'],
      ['CodeBuild@1'],
      ['StepFunctions@1'],
      ['Lambda@1', 'Manual@2'],
      ['StepFunctions@1'],
    ]);
  });

  it('takes the project source from the S3 asset cdk deploy uploads, without polling', () => {
    expect(action('Source', 'ProjectSource').Configuration).toMatchObject({
      S3ObjectKey: expect.stringMatching(/\.zip$/),
      PollForSourceChanges: false,
    });
  });

  it('leaves dependencies, build output and run data out of the source snapshot', () => {
    expect(SOURCE_EXCLUDES).toEqual(['node_modules', 'cdk.out', '.git', 'runs', '.reelflow', 'coverage']);
    const staged = path.join(built.app.outdir, built.stack.release.sourceAsset.assetPath);
    expect(fs.existsSync(path.join(staged, 'buildspec.yml'))).toBe(true);
    expect(fs.existsSync(path.join(staged, 'package-lock.json'))).toBe(true);
    expect(fs.existsSync(path.join(staged, 'node_modules'))).toBe(false);
    expect(fs.existsSync(path.join(staged, 'cdk.out'))).toBe(false);
  });

  it('starts the retrain workflow with the run id and the upload that triggered it', () => {
    const config = action('Retrain', 'Retrain').Configuration;
    expect(config).toMatchObject({ InputType: 'Literal', ExecutionNamePrefix: 'retrain' });
    expect(JSON.parse(config.Input as string)).toEqual({
      runId: '#{codepipeline.PipelineExecutionId}',
      trigger: { key: '#{variables.triggerKey}', versionId: '#{variables.triggerVersionId}' },
    });
    expect((config.StateMachineArn as { Ref: string }).Ref).toMatch(/^RetrainStateMachine/);
  });

  it('summarizes the candidate, then asks for approval with the metrics text and the report link', () => {
    const summarize = action('Approve', 'Summarize');
    expect(summarize).toMatchObject({
      Namespace: 'Summary',
      Configuration: { UserParameters: '{"runId":"#{codepipeline.PipelineExecutionId}"}' },
    });
    expect(action('Approve', 'Approve')).toMatchObject({
      RunOrder: 2,
      TimeoutInMinutes: 1440,
      Configuration: {
        CustomData: '#{Summary.approvalText}',
        ExternalEntityLink: '#{Summary.reportUrl}',
        NotificationArn: { Ref: expect.stringMatching(/^NotificationsApprovals/) },
      },
    });
  });

  it('subscribes the configured e-mail to approval requests and alerts', () => {
    const subscriptions = Object.values(built.template.findResources('AWS::SNS::Subscription')).map(
      (s) => s.Properties,
    );
    expect(subscriptions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Protocol: 'email',
          Endpoint: 'ops@example.com',
          TopicArn: { Ref: expect.stringMatching(/^NotificationsApprovals/) },
        }),
        expect.objectContaining({
          Protocol: 'email',
          Endpoint: 'ops@example.com',
          TopicArn: { Ref: expect.stringMatching(/^NotificationsAlerts/) },
        }),
      ]),
    );
  });

  it('deploys with the run id', () => {
    const config = action('Deploy', 'Deploy').Configuration;
    expect(JSON.parse(config.Input as string)).toEqual({ runId: '#{codepipeline.PipelineExecutionId}' });
    expect((config.StateMachineArn as { Ref: string }).Ref).toMatch(/^DeployStateMachine/);
  });

  it('checks the source with the repository buildspec in an encrypted, unprivileged Node.js build', () => {
    built.template.hasResourceProperties('AWS::CodeBuild::Project', {
      Source: { Type: 'CODEPIPELINE', BuildSpec: 'buildspec.yml' },
      EncryptionKey: { 'Fn::ImportValue': Match.stringLikeRegexp('ReelflowKey') },
      Environment: { Image: 'aws/codebuild/standard:7.0', PrivilegedMode: false },
    });
  });

  it('keeps artifacts in a KMS-encrypted, access-logged, TLS-only bucket', () => {
    expect(pipeline.ArtifactStore).toMatchObject({ EncryptionKey: { Type: 'KMS' } });
    built.template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          Match.objectLike({
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: Match.anyValue() },
          }),
        ],
      },
      LoggingConfiguration: {
        DestinationBucketName: { 'Fn::ImportValue': Match.stringLikeRegexp('AccessLogBucket') },
        LogFilePrefix: 'pipeline-artifacts/',
      },
      VersioningConfiguration: { Status: 'Enabled' },
    });
    built.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('lets the summarize action read run artifacts only', () => {
    const statements = statementsOfRole(built.template, 'SummarizeRole');
    const objectStatements = statements.filter((s) =>
      actionsOf(s).some((a) => a.startsWith('s3:') && a !== 's3:ListBucket'),
    );
    expect(objectStatements.flatMap(actionsOf)).toEqual(['s3:GetObject', 's3:GetObjectVersion']);
    expect(JSON.stringify(objectStatements.flatMap(resourcesOf))).toContain('/runs/*');
  });
});

describe('buildspec.yml', () => {
  const buildspec = fs.readFileSync(path.join(__dirname, '..', '..', 'buildspec.yml'), 'utf8');

  it('runs on Node.js 22 and runs the checks before cdk synth', () => {
    expect(buildspec).toMatch(/runtime-versions:\s*\n\s*nodejs: 22/);
    const order = ['npm ci', 'npm run lint', 'npm run typecheck', 'npm test', 'npx cdk synth --quiet'].map(
      (command) => buildspec.indexOf(`- ${command}`),
    );
    expect(order.every((index) => index > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });
});

describe('serving image', () => {
  it('builds from the repository root with only the manifests and functions/ in the context', () => {
    const staged = path.join(built.app.outdir);
    const contexts = fs
      .readdirSync(staged)
      .map((name) => path.join(staged, name))
      .filter(
        (dir) =>
          fs.existsSync(path.join(dir, 'functions', 'serving', 'Dockerfile')) &&
          !fs.existsSync(path.join(dir, 'buildspec.yml')),
      );
    expect(contexts).toHaveLength(1);
    expect(fs.readdirSync(contexts[0]).sort()).toEqual([
      'functions',
      'package-lock.json',
      'package.json',
      'tsconfig.json',
    ]);
  });
});
