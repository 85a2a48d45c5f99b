/**
 * Renders the retrain and deploy state machine definitions as plain ASL JSON, for the local runtime
 * (aws-local-stepfunctions) and the tests: the same workflow constructs the stack deploys, built in a
 * minimal stack from imported resources with placeholder ARNs, then every CloudFormation intrinsic left
 * in the definition (partition, region, mapping lookups) resolved to a plain string.
 */
import { App, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { type DeployConfig } from './config';
import { productionParameterName } from './names';
import { dataBucketName } from './names';
import { rollbackAlarmNames } from './names';
import { DeployWorkflow } from './deploy-workflow';
import { RetrainWorkflow } from './retrain-workflow';

/** An Amazon States Language definition. */
export interface AslDefinition {
  readonly StartAt: string;
  readonly States: Record<string, Record<string, unknown>>;
  readonly [key: string]: unknown;
}

export interface RenderedWorkflows {
  readonly retrain: AslDefinition;
  readonly deploy: AslDefinition;
}

/** Where the rendered definitions pretend to run, and the placeholder ARNs their Tasks call. */
export const RENDER_ACCOUNT = '123456789012';
export const RENDER_REGION = 'us-east-1';
const arn = (service: string, resource: string): string =>
  `arn:aws:${service}:${RENDER_REGION}:${RENDER_ACCOUNT}:${resource}`;
export const RENDER_PLACEHOLDERS = {
  planRun: arn('lambda', 'function:reelflow-plan-run'),
  prepare: arn('lambda', 'function:reelflow-prepare'),
  buildVectors: arn('lambda', 'function:reelflow-build-vectors'),
  evaluate: arn('lambda', 'function:reelflow-evaluate'),
  tune: arn('lambda', 'function:reelflow-tune'),
  recordDeployment: arn('lambda', 'function:reelflow-record-deployment'),
  smokeTest: arn('lambda', 'function:reelflow-smoke-test'),
  alerts: arn('sns', 'reelflow-alerts'),
  key: arn('kms', 'key/00000000-0000-4000-8000-000000000000'),
  trainingRole: `arn:aws:iam::${RENDER_ACCOUNT}:role/reelflow-training`,
  hostingRole: `arn:aws:iam::${RENDER_ACCOUNT}:role/reelflow-model`,
  transformRole: `arn:aws:iam::${RENDER_ACCOUNT}:role/reelflow-transform`,
  processingRole: `arn:aws:iam::${RENDER_ACCOUNT}:role/reelflow-processing`,
  servingImage: `${RENDER_ACCOUNT}.dkr.ecr.${RENDER_REGION}.amazonaws.com/reelflow-serving:local`,
} as const;

/** Thrown when a definition holds an intrinsic the renderer cannot resolve to a string. */
export class UnresolvedDefinitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnresolvedDefinitionError';
  }
}

/** Both workflow definitions for `config`, as plain ASL with placeholder ARNs. */
export function renderWorkflowDefinitions(config: DeployConfig): RenderedWorkflows {
  const app = new App();
  const stack = new Stack(app, 'ReelflowRender', { env: { account: RENDER_ACCOUNT, region: RENDER_REGION } });
  const p = RENDER_PLACEHOLDERS;
  const key = kms.Key.fromKeyArn(stack, 'Key', p.key);
  const fn = (id: string, functionArn: string): lambda.IFunction =>
    lambda.Function.fromFunctionArn(stack, id, functionArn);
  const role = (id: string, roleArn: string): iam.IRole =>
    iam.Role.fromRoleArn(stack, id, roleArn, { mutable: false });
  const alerts = sns.Topic.fromTopicArn(stack, 'Alerts', p.alerts);
  const dataBucket = s3.Bucket.fromBucketName(
    stack,
    'DataBucket',
    dataBucketName(stack, config.resourcePrefix),
  );

  const retrain = new RetrainWorkflow(stack, 'Retrain', {
    config,
    key,
    planRun: fn('PlanRun', p.planRun),
    prepare: fn('Prepare', p.prepare),
    buildVectors: fn('BuildVectors', p.buildVectors),
    evaluate: fn('Evaluate', p.evaluate),
    tune: fn('Tune', p.tune),
    alerts,
    trainingRole: role('TrainingRole', p.trainingRole),
    hostingRole: role('ModelRole', p.hostingRole),
    transformRole: role('TransformRole', p.transformRole),
    processingRole: role('ProcessingRole', p.processingRole),
    dataBucket,
    servingImageUri: p.servingImage,
    productionParameterName: productionParameterName(config),
  });
  const deploy = new DeployWorkflow(stack, 'Deploy', {
    config,
    dataBucket,
    key,
    recordDeployment: fn('RecordDeployment', p.recordDeployment),
    smokeTest: fn('SmokeTest', p.smokeTest),
    alerts,
    rollbackAlarmNames: rollbackAlarmNames(config.endpoint.name),
  });
  return {
    retrain: definitionOf(stack, retrain.stateMachine),
    deploy: definitionOf(stack, deploy.stateMachine),
  };
}

function definitionOf(stack: Stack, stateMachine: sfn.StateMachine): AslDefinition {
  const cfn = stateMachine.node.defaultChild as { definitionString?: unknown };
  const text = resolveIntrinsics(stack.resolve(cfn.definitionString), stack);
  if (typeof text !== 'string')
    throw new UnresolvedDefinitionError('the definition did not resolve to a string');
  if (text.includes('${Token['))
    throw new UnresolvedDefinitionError('the definition holds an unresolved token');
  return JSON.parse(text) as AslDefinition;
}

/**
 * Resolves the intrinsics CDK leaves in a definition string: pseudo parameters, Fn::Join, Fn::Select and
 * Fn::Split. Hand-written because CDK only resolves tokens to CloudFormation, never to values. Anything
 * else (a Ref to a resource, an import) goes to `placeholder`, or is an error without one: the renderer's
 * inputs are all imports and its region is concrete (image URIs are literal), so it needs none.
 */
export function resolveIntrinsics(
  value: unknown,
  stack: Stack,
  placeholder?: (intrinsic: string, argument: unknown) => string,
): unknown {
  if (
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'boolean' ||
    value === null
  ) {
    return value;
  }
  if (Array.isArray(value)) return value.map((item) => resolveIntrinsics(item, stack));
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length !== 1) throw new UnresolvedDefinitionError(`unexpected object ${JSON.stringify(value)}`);
  const [name, arg] = entries[0];
  const resolved = (v: unknown): unknown => resolveIntrinsics(v, stack, placeholder);
  switch (name) {
    case 'Ref': {
      const pseudo: Record<string, string> = {
        'AWS::Partition': 'aws',
        'AWS::Region': RENDER_REGION,
        'AWS::AccountId': RENDER_ACCOUNT,
        'AWS::URLSuffix': 'amazonaws.com',
        'AWS::StackName': stack.stackName,
      };
      if (typeof arg === 'string' && arg in pseudo) return pseudo[arg];
      if (placeholder) return placeholder(name, arg);
      throw new UnresolvedDefinitionError(`Ref to ${String(arg)} cannot be rendered`);
    }
    case 'Fn::Join': {
      const [separator, parts] = arg as [string, unknown[]];
      return (resolved(parts) as unknown[]).map(String).join(separator);
    }
    case 'Fn::Select': {
      const [index, list] = arg as [number, unknown];
      return (resolved(list) as unknown[])[Number(index)];
    }
    case 'Fn::Split': {
      const [separator, source] = arg as [string, unknown];
      return String(resolved(source)).split(separator);
    }
    default:
      if (placeholder) return placeholder(name, arg);
      throw new UnresolvedDefinitionError(`intrinsic ${name} cannot be rendered`);
  }
}
