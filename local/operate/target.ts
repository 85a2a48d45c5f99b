/**
 * Where an operator command acts: the deployed stack (`--aws [--region] [--profile] [--stack]`: its names
 * from the CloudFormation outputs) or the running local twin (default; `--home <folder>` finds its
 * state.json). Either way the command gets the same SDK clients and names, so `reelflow status`, `runs`,
 * `approve`, `rollback`, ... run one code path against AWS and against the twin. Credentials and region
 * come the AWS SDK way (env, profile, SSO); the flags only choose.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CodePipelineClient } from '@aws-sdk/client-codepipeline';
import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { join } from 'node:path';
import { UsageError, type ParsedArgs } from '../cli-args';
import { DEFAULT_HOME, homeLayout, runningInstance, type InstanceState } from '../home';
import { LOCAL_REGION } from '../services/local-account';
import { localS3Client } from '../services/s3-client';
import { stackOutputsAdapter } from '../verify-aws/aws-adapters';
import { DEFAULT_STACK } from '../verify-aws/command';
import { explainAwsError, OperatorError } from './errors';

/** The names a command needs; the same fields in AWS (stack outputs) and locally (state.json). */
export interface OperatorNames {
  /** The CloudFormation stack read (AWS only). */
  readonly stackName?: string;
  /** The release pipeline, `<resourcePrefix>-release`. */
  readonly pipelineName: string;
  /** The retrain state machine ('' when a twin started by an older version does not publish it). */
  readonly retrainStateMachineArn: string;
  /** The deploy state machine ('' when a twin started by an older version does not publish it). */
  readonly deployStateMachineArn: string;
  /** The data bucket (ratings/, runs/). */
  readonly bucket: string;
  /** The production SageMaker endpoint. */
  readonly endpointName: string;
  /** The SSM parameter holding the production record (ProductionRecord JSON). */
  readonly productionParameterName: string;
  /** The recommend API, when known. */
  readonly recommendUrl?: string;
}

/** One SDK client per service the commands call, all bound to the target's region and credentials. */
export interface OperatorClients {
  readonly codePipeline: CodePipelineClient;
  readonly sfn: SFNClient;
  readonly sageMaker: SageMakerClient;
  readonly s3: S3Client;
  readonly ssm: SSMClient;
}

/** Where to look at something: console URLs in AWS, local file paths for the twin. */
export interface OperatorLinks {
  pipelineExecution(runId: string): string;
  report(runId: string): string;
  stateMachineExecution(executionArn: string): string;
}

export interface OperatorTarget {
  readonly kind: 'aws' | 'local';
  readonly region: string;
  readonly names: OperatorNames;
  readonly clients: OperatorClients;
  /** Console URLs in AWS; local file paths / loopback URLs for the twin. */
  readonly links: OperatorLinks;
  /** Closes every client's sockets. */
  destroy(): void;
}

/** Where a command prints; tests collect the lines. */
export interface OperatorIo {
  out(line: string): void;
}

/** Prints to stdout. */
export const STDOUT_IO: OperatorIo = { out: (line) => process.stdout.write(`${line}\n`) };

/** The stack outputs an AWS target reads (infra/stacks/reelflow-stack.ts). */
export const OPERATOR_STACK_OUTPUTS = {
  pipelineName: 'PipelineName',
  retrainStateMachineArn: 'RetrainStateMachineArn',
  deployStateMachineArn: 'DeployStateMachineArn',
  bucket: 'DataBucketName',
  endpointName: 'EndpointName',
  productionParameterName: 'ProductionParameterName',
  recommendUrl: 'RecommendUrl',
} as const;

/** The credentials the twin's servers accept (they do not check signatures). */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

/** --aws [--region] [--profile] [--stack]: CloudFormation outputs; otherwise the running twin (--home). */
export async function resolveTarget(args: ParsedArgs): Promise<OperatorTarget> {
  return args.values.aws ? resolveAwsTarget(args) : resolveLocalTarget(args);
}

/** The home folder `--home` names, or the default `.reelflow/`. */
export function homeOf(args: ParsedArgs): string {
  return homeLayout(stringFlag(args, 'home') ?? DEFAULT_HOME).root;
}

/** The deployed stack: region and credentials the SDK way, names from DescribeStacks. */
async function resolveAwsTarget(args: ParsedArgs): Promise<OperatorTarget> {
  const profile = stringFlag(args, 'profile');
  const stackName = stringFlag(args, 'stack') ?? DEFAULT_STACK;
  const base = profile ? { profile } : {};
  let region = stringFlag(args, 'region');
  const cloudFormation = new CloudFormationClient({ ...base, ...(region ? { region } : {}) });
  try {
    if (!region) {
      try {
        region = await cloudFormation.config.region();
      } catch {
        throw new OperatorError('no AWS region: pass --region, or set AWS_REGION or a region in the profile');
      }
    }
    let outputs: Readonly<Record<string, string>>;
    try {
      outputs = await stackOutputsAdapter(cloudFormation).outputs(stackName);
    } catch (error) {
      throw new OperatorError(
        explainAwsError(error, { region, stackName, what: `read the outputs of stack ${stackName}` }),
        { cause: error },
      );
    }
    const names = namesFromOutputs(stackName, outputs);
    const config = { ...base, region };
    return targetFromClients({
      kind: 'aws',
      region,
      names,
      clients: {
        codePipeline: new CodePipelineClient(config),
        sfn: new SFNClient(config),
        sageMaker: new SageMakerClient(config),
        s3: new S3Client(config),
        ssm: new SSMClient(config),
      },
    });
  } finally {
    cloudFormation.destroy();
  }
}

/** The operator names from a stack's outputs; an OperatorError names the outputs it lacks. */
export function namesFromOutputs(
  stackName: string,
  outputs: Readonly<Record<string, string>>,
): OperatorNames {
  const required = [
    OPERATOR_STACK_OUTPUTS.pipelineName,
    OPERATOR_STACK_OUTPUTS.retrainStateMachineArn,
    OPERATOR_STACK_OUTPUTS.deployStateMachineArn,
    OPERATOR_STACK_OUTPUTS.bucket,
    OPERATOR_STACK_OUTPUTS.endpointName,
    OPERATOR_STACK_OUTPUTS.productionParameterName,
  ];
  const missing = required.filter((key) => !outputs[key]);
  if (missing.length > 0) {
    throw new OperatorError(
      `stack ${stackName} has no output ${missing.join(', ')}: deploy the current version ` +
        '(npx cdk deploy --all) or pass --stack <name>',
    );
  }
  return {
    stackName,
    pipelineName: outputs[OPERATOR_STACK_OUTPUTS.pipelineName],
    retrainStateMachineArn: outputs[OPERATOR_STACK_OUTPUTS.retrainStateMachineArn],
    deployStateMachineArn: outputs[OPERATOR_STACK_OUTPUTS.deployStateMachineArn],
    bucket: outputs[OPERATOR_STACK_OUTPUTS.bucket],
    endpointName: outputs[OPERATOR_STACK_OUTPUTS.endpointName],
    productionParameterName: outputs[OPERATOR_STACK_OUTPUTS.productionParameterName],
    recommendUrl: outputs[OPERATOR_STACK_OUTPUTS.recommendUrl] || undefined,
  };
}

/** The twin running on --home (state.json); an OperatorError when none runs. */
function resolveLocalTarget(args: ParsedArgs): OperatorTarget {
  const layout = homeLayout(stringFlag(args, 'home') ?? DEFAULT_HOME);
  const state = runningInstance(layout);
  if (!state) throw new OperatorError(`no reelflow is running on ${layout.root}: start one with npm start`);
  return localTargetFromState(state, layout.root);
}

/** A target over the twin that published `state` (its state.json) in `home`. */
export function localTargetFromState(state: InstanceState, home: string): OperatorTarget {
  // Fields added by later versions are read defensively: an older twin may still be running.
  const published = state as Partial<InstanceState> & {
    region?: string;
    stateMachines?: { retrain?: string; deploy?: string };
    productionParameterName?: string;
  };
  const region = published.region ?? LOCAL_REGION;
  const pipelineName = published.pipelineName ?? 'reelflow-release';
  const prefix = pipelineName.replace(/-release$/, '');
  const config = { endpoint: state.awsJsonEndpoint, region, credentials: LOCAL_CREDENTIALS };
  return targetFromClients({
    kind: 'local',
    region,
    home,
    names: {
      pipelineName,
      retrainStateMachineArn: published.stateMachines?.retrain ?? '',
      deployStateMachineArn: published.stateMachines?.deploy ?? '',
      bucket: state.bucket,
      endpointName: state.endpointName,
      productionParameterName: published.productionParameterName ?? `/${prefix}/production-model`,
      recommendUrl: state.recommendUrl,
    },
    clients: {
      codePipeline: new CodePipelineClient(config),
      sfn: new SFNClient(config),
      sageMaker: new SageMakerClient(config),
      s3: localS3Client(state.s3Endpoint),
      ssm: new SSMClient(config),
    },
  });
}

/** What targetFromClients builds a target from. */
export interface TargetOptions {
  /** @default 'aws' */
  readonly kind?: 'aws' | 'local';
  /** @default 'us-east-1' */
  readonly region?: string;
  readonly names: OperatorNames;
  /** Clients not given are created for `region` (aws-sdk-client-mock patches every instance). */
  readonly clients?: Partial<OperatorClients>;
  /** The twin's state folder, for local links. @default .reelflow */
  readonly home?: string;
}

/** For tests (and the resolvers): a target over given clients. */
export function targetFromClients(options: TargetOptions): OperatorTarget {
  const kind = options.kind ?? 'aws';
  const region = options.region ?? LOCAL_REGION;
  const given = options.clients ?? {};
  const config = { region, ...(kind === 'local' ? { credentials: LOCAL_CREDENTIALS } : {}) };
  const clients: OperatorClients = {
    codePipeline: given.codePipeline ?? new CodePipelineClient(config),
    sfn: given.sfn ?? new SFNClient(config),
    sageMaker: given.sageMaker ?? new SageMakerClient(config),
    s3: given.s3 ?? new S3Client(config),
    ssm: given.ssm ?? new SSMClient(config),
  };
  const links =
    kind === 'aws'
      ? awsLinks(region, options.names)
      : localLinks(homeLayout(options.home ?? DEFAULT_HOME).runsDir);
  return {
    kind,
    region,
    names: options.names,
    clients,
    links,
    destroy() {
      for (const client of Object.values(clients)) (client as { destroy(): void }).destroy();
    },
  };
}

/** The AWS console pages of an execution, a report object and a state machine execution. */
export function awsLinks(
  region: string,
  names: Pick<OperatorNames, 'pipelineName' | 'bucket'>,
): OperatorLinks {
  const console = `https://${region}.console.aws.amazon.com`;
  return {
    pipelineExecution: (runId) =>
      `${console}/codesuite/codepipeline/pipelines/${encodeURIComponent(names.pipelineName)}` +
      `/executions/${encodeURIComponent(runId)}/visualization?region=${region}`,
    report: (runId) =>
      `https://s3.console.aws.amazon.com/s3/object/${names.bucket}?region=${region}` +
      `&prefix=${encodeURIComponent(`runs/${runId}/evaluation/report.html`)}`,
    stateMachineExecution: (executionArn) =>
      `${console}/states/home?region=${region}#/v2/executions/details/${executionArn}`,
  };
}

/** The twin's copies under <home>/runs/<runId>/ (report.html, progress.json, evaluation.json). */
function localLinks(runsDir: string): OperatorLinks {
  return {
    pipelineExecution: (runId) => join(runsDir, runId),
    report: (runId) => join(runsDir, runId, 'report.html'),
    // No console locally: the ARN is what DescribeExecution / GetExecutionHistory take.
    stateMachineExecution: (executionArn) => executionArn,
  };
}

function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  if (value === undefined || value === false) return undefined;
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} needs a value`);
  return value;
}
