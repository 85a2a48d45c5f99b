import * as path from 'node:path';
import { Duration, RemovalPolicy, type Size, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { acknowledgePolicies } from '../../pipeline/nag';

/** The repository root: esbuild's project root and the base of every handler entry. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/**
 * How every reelflow function is bundled: minified CommonJS for Node.js 22 with source maps, and
 * everything bundled, the AWS SDK included (no external modules): the function runs the SDK version
 * the lockfile pins and tests ran, not whatever the runtime ships (which may lack a package such as
 * @aws-sdk/lib-storage, or lag behind).
 */
export const REELFLOW_BUNDLING: nodejs.BundlingOptions = {
  minify: true,
  sourceMap: true,
  target: 'node22',
  format: nodejs.OutputFormat.CJS,
  externalModules: [],
};

export interface ReelflowFunctionProps {
  /** The handler file, relative to the repository root (e.g. `functions/api/recommend.ts`). */
  readonly entry: string;
  /** What the function does, shown in the console. */
  readonly description: string;
  /** Encrypts the function's log group. */
  readonly logKey: kms.IKey;
  /** Retention of the function's log group, in days (one of CloudWatch's allowed values). */
  readonly logRetentionDays: number;
  /**
   * Environment variables: the only contract between this construct and the handler.
   * @default - none
   */
  readonly environment?: Record<string, string>;
  /** @default Duration.seconds(30) */
  readonly timeout?: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  /**
   * Size of /tmp.
   * @default Size.mebibytes(512)
   */
  readonly ephemeralStorageSize?: Size;
  /**
   * Receives asynchronous invocations that failed every retry.
   * @default - none
   */
  readonly deadLetterQueue?: sqs.IQueue;
  /**
   * Concurrent executions set aside for this function (and its most).
   * @default - unreserved: the account's shared pool
   */
  readonly reservedConcurrentExecutions?: number;
}

/**
 * Every reelflow Lambda function: Node.js 22 on arm64, bundled locally by esbuild (minified, with
 * source maps, the AWS SDK bundled in: REELFLOW_BUNDLING), X-Ray tracing, its own KMS-encrypted log group with
 * retention instead of the implicit never-expiring one, and its own role that may write only there.
 */
export class ReelflowFunction extends nodejs.NodejsFunction {
  constructor(scope: Construct, id: string, props: ReelflowFunctionProps) {
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetentionDays as logs.RetentionDays,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Its own role, writing only to its own log group (AWSLambdaBasicExecutionRole allows every group).
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: props.description,
    });
    logGroup.grantWrite(role);
    super(scope, id, {
      role,
      entry: path.join(REPO_ROOT, props.entry),
      handler: 'handler',
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(30),
      ephemeralStorageSize: props.ephemeralStorageSize,
      deadLetterQueue: props.deadLetterQueue,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      tracing: lambda.Tracing.ACTIVE,
      logGroup,
      environment: { POWERTOOLS_SERVICE_NAME: 'reelflow', ...props.environment },
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      bundling: REELFLOW_BUNDLING,
    });
    Validations.of(this.node.defaultChild ?? this).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Pinned to Node.js 22, the runtime the project targets (package engines, the serving image node:22, ' +
        'esbuild target node22); moving to a newer runtime is a deliberate, tested upgrade.',
    });
    acknowledgePolicies(role, {
      'AwsSolutions-IAM5[Resource::*]':
        'X-Ray tracing (xray:PutTraceSegments, PutTelemetryRecords) and, for a function a CodePipeline ' +
        'Lambda action invokes, codepipeline:PutJobSuccessResult/PutJobFailureResult have no resource-level ' +
        'permissions.',
    });
  }
}
