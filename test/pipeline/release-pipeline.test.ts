import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { Match } from 'aws-cdk-lib/assertions';
import { SERVING_DOCKERFILE, servingImageTag } from '../../infra/constructs/serving-image';
import { NO_TRIGGER, PIPELINE_VARIABLES, SOURCE_EXCLUDES, STAGES } from '../../pipeline/release-pipeline';
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
      ['CodeBuild@1', 'CodeBuild@2'],
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

describe('a run with nothing to do', () => {
  it('skips every stage after Source while triggerKey is the default, as in the run on pipeline creation', () => {
    expect(NO_TRIGGER).toBe(PIPELINE_VARIABLES.triggerKey.defaultValue);
    const conditions = stages.map((s) => [s.Name, (s as Record<string, unknown>).BeforeEntry]);
    expect(conditions).toEqual([
      ['Source', undefined],
      ...STAGES.slice(1).map((name) => [
        name,
        {
          Conditions: [
            {
              Result: 'SKIP',
              Rules: [
                {
                  Name: `${name}HasTrigger`,
                  RuleTypeId: { Category: 'Rule', Owner: 'AWS', Provider: 'VariableCheck', Version: '1' },
                  Configuration: { Variable: '#{variables.triggerKey}', Operator: 'NE', Value: 'manual' },
                },
              ],
            },
          ],
        },
      ]),
    ]);
  });
});

describe('serving image build', () => {
  const imageBuild = () => {
    const projects = built.template.findResources('AWS::CodeBuild::Project');
    const [, project] = Object.entries(projects).find(([id]) => id.startsWith('ReleaseServingImageBuild'))!;
    return project.Properties;
  };

  it('builds after the checks, in the Checks stage, from the same source snapshot', () => {
    expect(action('Checks', 'ServingImage')).toMatchObject({
      RunOrder: 2,
      InputArtifacts: [{ Name: 'Source' }],
      Configuration: { ProjectName: { Ref: expect.stringMatching(/^ReleaseServingImageBuild/) } },
    });
    expect(action('Checks', 'Checks').RunOrder).toBe(1);
  });

  it('runs Docker on a privileged amd64 build with the repository, the content tag and the Dockerfile', () => {
    const project = imageBuild();
    expect(project.Environment).toMatchObject({
      Type: 'LINUX_CONTAINER',
      Image: 'aws/codebuild/standard:7.0',
      PrivilegedMode: true,
    });
    const variables = Object.fromEntries(
      (project.Environment.EnvironmentVariables as { Name: string; Value: unknown }[]).map((v) => [
        v.Name,
        v.Value,
      ]),
    );
    // The tag the retrain workflow's models use (computed once per synth; files may change meanwhile).
    expect(variables.IMAGE_TAG).toMatch(/^sha-[0-9a-f]{64}$/);
    const machines = built.template.findResources('AWS::StepFunctions::StateMachine');
    const [, retrain] = Object.entries(machines).find(([id]) => id.startsWith('RetrainStateMachine'))!;
    expect(JSON.stringify(retrain.Properties.DefinitionString)).toContain(
      `:${variables.IMAGE_TAG as string}`,
    );
    expect(variables.DOCKERFILE).toBe(SERVING_DOCKERFILE);
    expect(JSON.stringify(variables.REPOSITORY_NAME)).toContain('ExportsOutputRefServingRepository');
  });

  it('pushes only a tag that does not exist yet, for linux/amd64', () => {
    const spec = imageBuild().Source.BuildSpec as string;
    const describeAt = spec.indexOf('aws ecr describe-images');
    const buildAt = spec.indexOf('docker build --platform linux/amd64');
    const pushAt = spec.indexOf('docker push');
    expect(describeAt).toBeGreaterThan(0);
    const commands = JSON.parse(spec).phases.build.commands as string[];
    expect(commands).toHaveLength(1);
    expect(spec.slice(describeAt, buildAt)).toMatch(/then echo .*nothing to build.*else /);
    expect(buildAt).toBeGreaterThan(describeAt);
    expect(pushAt).toBeGreaterThan(buildAt);
  });

  it('may push to and describe the serving repository', () => {
    const statements = statementsOfRole(built.template, 'ReleaseServingImageBuildRole');
    const push = statements.find((s) => actionsOf(s).includes('ecr:PutImage'));
    expect(actionsOf(push!)).toEqual(
      expect.arrayContaining(['ecr:BatchGetImage', 'ecr:CompleteLayerUpload']),
    );
    expect(JSON.stringify(push?.Resource)).toContain('ServingRepositoryArn');
    expect(statements.some((s) => actionsOf(s).includes('ecr:DescribeImages'))).toBe(true);
  });

  it('tags the image with a hash of its build context only', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'reelflow-image-'));
    const write = (file: string, text: string) => {
      fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
      fs.writeFileSync(path.join(root, file), text);
    };
    write('package.json', '{}');
    write('functions/serving/server.ts', 'a');
    write('functions/serving/Dockerfile', 'FROM x');
    const first = servingImageTag(root);
    write('README.md', 'docs');
    write('test/x.test.ts', 'test');
    write('functions/serving/notes.md', 'notes');
    expect(servingImageTag(root)).toBe(first);
    write('functions/serving/server.ts', 'b');
    expect(servingImageTag(root)).not.toBe(first);
    fs.rmSync(root, { recursive: true, force: true });
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
