import { Duration, Size, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { QUARANTINE_PREFIX, WITHDRAWN_PREFIX } from '../../functions/core/run-layout';
import type { DeployConfig } from '../../pipeline/config';
import { acknowledgePolicies, resourceFinding } from '../../pipeline/nag';
import { dataStepEnvironment } from '../../pipeline/retrain/processing-step';
import { grantPrefixAccess } from './bucket-grants';
import { RATINGS_PREFIX, RUNS_PREFIX } from './data-bucket';
import { ReelflowFunction } from './reelflow-function';

/** Props of {@link WorkflowFunctions}. */
export interface WorkflowFunctionsProps {
  /** Memory of the data steps, log retention, the endpoint name and the smoke-test user. */
  readonly config: Pick<
    DeployConfig,
    'workflowMemoryMb' | 'logRetentionDays' | 'endpoint' | 'deployment' | 'resourcePrefix' | 'tuning'
  >;
  /** The data bucket; each function may touch only its own prefixes. */
  readonly dataBucket: s3.IBucket;
  /** The project key: bucket objects, the production record and the functions' logs. */
  readonly key: kms.IKey;
  /** The SSM parameter holding the production record (created by the first deployment, not by the stack). */
  readonly productionParameterName: string;
  /** `GET /recommendEndpoint` of the deployed stage, for the smoke test. */
  readonly recommendUrl: string;
}

/**
 * The Lambda handlers the two workflows call, each with its own role scoped to what it touches:
 *
 * - planRun: lists `ratings/` (sizes only: s3:ListBucket on that prefix, no object read) to decide
 *   where the data steps run;
 * - prepare: reads `ratings/`, writes the run's prepared data under `runs/`;
 * - buildVectors: reads the FM artifact, writes k-NN training data and the serving bundle (`runs/`);
 * - evaluate: reads the transform outputs and test set, writes the evaluation (`runs/`);
 * - recordDeployment: writes `runs/<runId>/deployment.json` and the production SSM parameter;
 * - smokeTest: calls the recommend API (RecommendApi.grantSmokeTest adds what its auth mode needs).
 *
 * Every function gets DATA_BUCKET. The three data functions get `workflowMemoryMb` of memory, 10 GiB of
 * /tmp and Lambda's 15-minute maximum timeout, and the environment their Processing jobs get too
 * (dataStepEnvironment).
 */
export class WorkflowFunctions extends Construct {
  readonly planRun: ReelflowFunction;
  readonly prepare: ReelflowFunction;
  readonly buildVectors: ReelflowFunction;
  readonly evaluate: ReelflowFunction;
  /** The tuning steps (PlanTuning, ScoreTrial, PickBest); only with `tuning.enabled`. */
  readonly tune?: ReelflowFunction;
  readonly recordDeployment: ReelflowFunction;
  readonly smokeTest: ReelflowFunction;

  constructor(scope: Construct, id: string, props: WorkflowFunctionsProps) {
    super(scope, id);
    const { config, dataBucket, key } = props;
    const common = {
      logKey: key,
      logRetentionDays: config.logRetentionDays,
    };
    const heavy = {
      memorySize: config.workflowMemoryMb,
      timeout: Duration.minutes(15),
      ephemeralStorageSize: Size.mebibytes(10_240),
    };
    const bucketEnv = { DATA_BUCKET: dataBucket.bucketName };

    this.planRun = this.planRunFunction(dataBucket, common);

    this.prepare = new ReelflowFunction(this, 'Prepare', {
      ...common,
      entry: 'functions/workflow/prepare.ts',
      description: 'reelflow: ingest, split and encode the ratings of a run',
      ...heavy,
      environment: dataStepEnvironment('prepare', dataBucket.bucketName),
    });
    // A batch its validation refuses moves ratings/ -> quarantine/ (copy, report, delete); lineage lists
    // quarantine/ and withdrawn/.
    grantPrefixAccess(this.prepare, dataBucket, key, {
      read: [RATINGS_PREFIX, RUNS_PREFIX, QUARANTINE_PREFIX, WITHDRAWN_PREFIX],
      write: [RUNS_PREFIX, QUARANTINE_PREFIX],
    });
    this.prepare.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:DeleteObject'],
        resources: [dataBucket.arnForObjects(`${RATINGS_PREFIX}*`)],
      }),
    );

    this.buildVectors = new ReelflowFunction(this, 'BuildVectors', {
      ...common,
      entry: 'functions/workflow/build-vectors.ts',
      description: 'reelflow: user/movie vectors and serving bundle from the FM artifact',
      ...heavy,
      environment: dataStepEnvironment('build-vectors', dataBucket.bucketName),
    });
    grantPrefixAccess(this.buildVectors, dataBucket, key, { read: [RUNS_PREFIX], write: [RUNS_PREFIX] });

    this.evaluate = new ReelflowFunction(this, 'Evaluate', {
      ...common,
      entry: 'functions/workflow/evaluate.ts',
      description: 'reelflow: evaluate candidate and production on the held-out test set',
      ...heavy,
      environment: dataStepEnvironment('evaluate', dataBucket.bucketName),
    });
    grantPrefixAccess(this.evaluate, dataBucket, key, { read: [RUNS_PREFIX], write: [RUNS_PREFIX] });
    grantDescribeFmTrainingJobs(this.evaluate.role!, config.resourcePrefix); // the FM test metrics

    if (config.tuning.enabled) this.tune = this.tuneFunction(props, { ...common, ...heavy });
    this.recordDeployment = this.recordDeploymentFunction(props, common, bucketEnv);

    this.smokeTest = new ReelflowFunction(this, 'SmokeTest', {
      ...common,
      entry: 'functions/workflow/smoke-test.ts',
      description: 'reelflow: check that the API serves the newly deployed version',
      timeout: Duration.seconds(60),
      environment: {
        API_URL: props.recommendUrl,
        SMOKE_TEST_USER_ID: String(config.deployment.smokeTestUserId),
      },
    });
  }

  /** plan-run: lists `ratings/` (sizes only: s3:ListBucket on that prefix, no object read). */
  private planRunFunction(
    dataBucket: s3.IBucket,
    common: { logKey: kms.IKey; logRetentionDays: number },
  ): ReelflowFunction {
    const fn = new ReelflowFunction(this, 'PlanRun', {
      ...common,
      entry: 'functions/workflow/plan-run.ts',
      description: 'reelflow: decide whether the data steps of a run run as Lambda or Processing jobs',
      timeout: Duration.seconds(60),
      environment: { DATA_BUCKET: dataBucket.bucketName, RATINGS_PREFIX },
    });
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [dataBucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [RATINGS_PREFIX, `${RATINGS_PREFIX}*`] } },
      }),
    );
    return fn;
  }

  /**
   * tune: reads the run's split, id maps and run.json and the trials' artifacts, writes `runs/<runId>/tuning/`
   * and the tuned config into run.json (`runs/`), and reads the trials' billable time
   * (sagemaker:DescribeTrainingJob on `<prefix>-tNN-*`).
   */
  private tuneFunction(
    props: WorkflowFunctionsProps,
    settings: {
      logKey: kms.IKey;
      logRetentionDays: number;
      memorySize: number;
      timeout: Duration;
      ephemeralStorageSize: Size;
    },
  ): ReelflowFunction {
    const { config, dataBucket, key } = props;
    const fn = new ReelflowFunction(this, 'Tune', {
      ...settings,
      entry: 'functions/workflow/tune.ts',
      description: 'reelflow: plan, score and pick the tuning trials of a run (NDCG@k on a validation split)',
      environment: { DATA_BUCKET: dataBucket.bucketName },
    });
    grantPrefixAccess(fn, dataBucket, key, { read: [RUNS_PREFIX], write: [RUNS_PREFIX] });
    const trials = Stack.of(this).formatArn({
      service: 'sagemaker',
      resource: 'training-job',
      resourceName: `${config.resourcePrefix.toLowerCase()}-t*`,
    });
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['sagemaker:DescribeTrainingJob'], resources: [trials] }),
    );
    acknowledgePolicies(fn.role!, {
      [resourceFinding(fn, trials)]:
        "The runs' tuning trials: each name carries the trial, run id and attempt.",
    });
    return fn;
  }

  /**
   * record-deployment: writes `runs/<runId>/deployment.json` and puts the production record (an SSM
   * parameter encrypted with the project key, through SSM only).
   */
  private recordDeploymentFunction(
    props: WorkflowFunctionsProps,
    common: { logKey: kms.IKey; logRetentionDays: number },
    bucketEnv: Record<string, string>,
  ): ReelflowFunction {
    const { config, dataBucket, key } = props;
    const fn = new ReelflowFunction(this, 'RecordDeployment', {
      ...common,
      entry: 'functions/workflow/record-deployment.ts',
      description: 'reelflow: record a deployment outcome and the production model',
      environment: {
        ...bucketEnv,
        ENDPOINT_NAME: config.endpoint.name,
        PRODUCTION_PARAMETER: props.productionParameterName,
        PARAMETER_KEY_ID: key.keyArn,
      },
    });
    grantPrefixAccess(fn, dataBucket, key, { write: [RUNS_PREFIX] });
    const stack = Stack.of(this);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ssm:PutParameter'],
        resources: [productionParameterArn(stack, props.productionParameterName)],
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kms:Encrypt', 'kms:GenerateDataKey'],
        resources: [key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `ssm.${stack.region}.${stack.urlSuffix}` } },
      }),
    );
    return fn;
  }
}

/**
 * Allows `role` sagemaker:DescribeTrainingJob on the runs' FM jobs (`<prefix>-fm-*`; SageMaker ARNs carry
 * names in lower case): the Evaluate step reads the job's FinalMetricDataList, as a Lambda or as a
 * Processing job. The job name carries the run id and attempt, known only at run time.
 */
export function grantDescribeFmTrainingJobs(role: iam.IRole, resourcePrefix: string): void {
  const arn = Stack.of(role).formatArn({
    service: 'sagemaker',
    resource: 'training-job',
    resourceName: `${resourcePrefix.toLowerCase()}-fm-*`,
  });
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({ actions: ['sagemaker:DescribeTrainingJob'], resources: [arn] }),
  );
  acknowledgePolicies(role, {
    [resourceFinding(role, arn)]:
      "The runs' FM training jobs (their test-channel metrics): each name carries the run id and attempt.",
  });
}

/** The ARN of the production record's SSM parameter (names start with `/`). */
export function productionParameterArn(stack: Stack, parameterName: string): string {
  return stack.formatArn({
    service: 'ssm',
    resource: 'parameter',
    resourceName: parameterName.replace(/^\//, ''),
  });
}
