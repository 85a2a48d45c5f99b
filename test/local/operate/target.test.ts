/**
 * Where the operator commands act: `--aws` reads the names from the stack's CloudFormation outputs
 * (region and credentials the SDK way), otherwise the running twin's state.json. What goes wrong on the
 * way (no stack, expired session, no region, no twin) is one line saying what to do.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OperatorError } from '../../../local/operate/errors';
import { resolveTarget } from '../../../local/operate/target';
import {
  awsError,
  BUCKET,
  DEPLOY_SM,
  PIPELINE,
  REGION,
  RETRAIN_SM,
  stackOutputs,
  STACK_OUTPUT_VALUES,
} from './operate-fixtures';

const cloudFormation = mockClient(CloudFormationClient);
const ENV_KEYS = [
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_PROFILE',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_EC2_METADATA_DISABLED',
];
let saved: Record<string, string | undefined>;
let dir: string;

beforeEach(() => {
  cloudFormation.reset();
  saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  dir = mkdtempSync(join(tmpdir(), 'reelflow-target-'));
});
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('resolveTarget --aws', () => {
  it('reads the names from the stack outputs and builds console links in the region', async () => {
    // GIVEN
    cloudFormation.on(DescribeStacksCommand, { StackName: 'ReelflowStack' }).resolves(stackOutputs());

    // WHEN
    const target = await resolveTarget({ values: { aws: true, region: REGION }, positionals: [] });

    // THEN
    try {
      expect(target.kind).toBe('aws');
      expect(target.region).toBe(REGION);
      expect(target.names).toEqual({
        stackName: 'ReelflowStack',
        pipelineName: PIPELINE,
        retrainStateMachineArn: RETRAIN_SM,
        deployStateMachineArn: DEPLOY_SM,
        bucket: BUCKET,
        endpointName: 'reelflow-endpoint',
        productionParameterName: '/reelflow/production-model',
        recommendUrl: STACK_OUTPUT_VALUES.RecommendUrl,
      });
      expect(await target.clients.codePipeline.config.region()).toBe(REGION);
      expect(await target.clients.s3.config.region()).toBe(REGION);
      expect(target.links.pipelineExecution('abc')).toBe(
        `https://${REGION}.console.aws.amazon.com/codesuite/codepipeline/pipelines/${PIPELINE}/executions/abc/visualization?region=${REGION}`,
      );
      expect(target.links.report('abc')).toBe(
        `https://s3.console.aws.amazon.com/s3/object/${BUCKET}?region=${REGION}&prefix=runs%2Fabc%2Fevaluation%2Freport.html`,
      );
      expect(target.links.stateMachineExecution(`arn:aws:states:${REGION}:1:execution:m:e`)).toBe(
        `https://${REGION}.console.aws.amazon.com/states/home?region=${REGION}#/v2/executions/details/arn:aws:states:${REGION}:1:execution:m:e`,
      );
    } finally {
      target.destroy();
    }
  });

  it('takes the region from AWS_REGION and the stack from --stack', async () => {
    process.env.AWS_REGION = 'ap-southeast-2';
    cloudFormation.on(DescribeStacksCommand, { StackName: 'ReelflowStaging' }).resolves(stackOutputs());

    const target = await resolveTarget({ values: { aws: true, stack: 'ReelflowStaging' }, positionals: [] });

    target.destroy();
    expect(target.region).toBe('ap-southeast-2');
    expect(target.names.stackName).toBe('ReelflowStaging');
  });

  it('fails with one line naming the outputs an older stack lacks', async () => {
    const older = Object.fromEntries(
      Object.entries(STACK_OUTPUT_VALUES).filter(
        ([k]) => k !== 'PipelineName' && k !== 'DeployStateMachineArn',
      ),
    );
    cloudFormation.on(DescribeStacksCommand).resolves(stackOutputs(older));

    await expect(resolveTarget({ values: { aws: true, region: REGION }, positionals: [] })).rejects.toThrow(
      new OperatorError(
        'stack ReelflowStack has no output PipelineName, DeployStateMachineArn: deploy the current version (npx cdk deploy --all) or pass --stack <name>',
      ),
    );
  });

  it('fails with one line when the stack does not exist in the region', async () => {
    cloudFormation
      .on(DescribeStacksCommand)
      .rejects(awsError('ValidationError', 'Stack with id ReelflowStack does not exist'));

    const resolved = resolveTarget({ values: { aws: true, region: 'us-west-2' }, positionals: [] });

    await expect(resolved).rejects.toBeInstanceOf(OperatorError);
    await expect(resolved).rejects.toThrow(
      'stack ReelflowStack does not exist in us-west-2: deploy it (npx cdk deploy --all), or pass --stack <name> / --region <region>',
    );
  });

  it('fails with one line when the session has expired', async () => {
    cloudFormation
      .on(DescribeStacksCommand)
      .rejects(awsError('ExpiredToken', 'The security token included in the request is expired', 403));

    await expect(resolveTarget({ values: { aws: true, region: REGION }, positionals: [] })).rejects.toThrow(
      'could not read the outputs of stack ReelflowStack: your AWS session has expired: refresh the credentials (aws sso login, or a new session token) and rerun',
    );
  });

  it('fails with one line when no region is configured anywhere', async () => {
    // GIVEN no region in the environment or in a config file
    for (const k of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE']) delete process.env[k];
    writeFileSync(join(dir, 'config'), '');
    process.env.AWS_CONFIG_FILE = join(dir, 'config');
    process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'config');
    process.env.AWS_EC2_METADATA_DISABLED = 'true';

    await expect(resolveTarget({ values: { aws: true }, positionals: [] })).rejects.toThrow(
      new OperatorError('no AWS region: pass --region, or set AWS_REGION or a region in the profile'),
    );
    expect(cloudFormation.commandCalls(DescribeStacksCommand)).toHaveLength(0);
  });
});

describe('resolveTarget (the local twin)', () => {
  it('fails with one line when no twin runs on the home folder', async () => {
    await expect(resolveTarget({ values: { home: dir }, positionals: [] })).rejects.toThrow(
      new OperatorError(`no reelflow is running on ${dir}: start one with npm start`),
    );
  });

  it("points the clients at the twin's endpoints and reads the names of its state.json", async () => {
    // GIVEN a state.json of a live process (this one)
    writeFileSync(
      join(dir, 'state.json'),
      JSON.stringify({
        pid: process.pid,
        startedAt: '2026-12-02T14:00:00.000Z',
        bucket: 'reelflow-data-123456789012-us-east-1',
        s3Endpoint: 'http://127.0.0.1:45001',
        awsJsonEndpoint: 'http://127.0.0.1:45002',
        apiUrl: 'http://127.0.0.1:3000',
        recommendUrl: 'http://127.0.0.1:3000/recommendEndpoint',
        endpointName: 'reelflow-endpoint',
        pipelineName: 'reelflow-release',
        region: 'us-east-1',
        stateMachines: {
          retrain: 'arn:aws:states:us-east-1:123456789012:stateMachine:reelflow-retrain',
          deploy: 'arn:aws:states:us-east-1:123456789012:stateMachine:reelflow-deploy',
        },
        productionParameterName: '/reelflow/production-model',
      }),
    );

    // WHEN
    const target = await resolveTarget({ values: { home: dir }, positionals: [] });

    // THEN
    try {
      expect(target.kind).toBe('local');
      expect(target.names).toMatchObject({
        pipelineName: 'reelflow-release',
        retrainStateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:reelflow-retrain',
        deployStateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:reelflow-deploy',
        bucket: 'reelflow-data-123456789012-us-east-1',
        productionParameterName: '/reelflow/production-model',
      });
      const endpoint = await target.clients.sfn.config.endpoint?.();
      expect(endpoint?.hostname).toBe('127.0.0.1');
      expect(endpoint?.port).toBe(45002);
      expect((await target.clients.ssm.config.credentials()).accessKeyId).toBe('local');
      expect(target.links.report('r0002')).toBe(join(dir, 'runs', 'r0002', 'report.html'));
    } finally {
      target.destroy();
    }
  });

  it('falls back to derived names when an older twin publishes fewer fields', async () => {
    writeFileSync(
      join(dir, 'state.json'),
      JSON.stringify({
        pid: process.pid,
        bucket: 'b',
        s3Endpoint: 'http://127.0.0.1:45001',
        awsJsonEndpoint: 'http://127.0.0.1:45002',
        endpointName: 'shop-endpoint',
        pipelineName: 'shop-release',
      }),
    );

    const target = await resolveTarget({ values: { home: dir }, positionals: [] });

    target.destroy();
    expect(target.region).toBe('us-east-1');
    expect(target.names.productionParameterName).toBe('/shop/production-model');
    expect(target.names.deployStateMachineArn).toBe('');
  });
});
