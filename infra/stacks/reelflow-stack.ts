import { CfnOutput, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { DeployWorkflow } from '../../pipeline/deploy-workflow';
import { ReleasePipeline } from '../../pipeline/release-pipeline';
import { RetrainWorkflow } from '../../pipeline/retrain-workflow';
import { type DeployConfig } from '../../pipeline/config';
import { productionParameterName } from '../../pipeline/names';
import { processingQuotaNeeds, sageMakerQuotaNeeds } from '../../pipeline/config-rules';
import { grantPrefixAccess } from '../constructs/bucket-grants';
import { RUNS_PREFIX } from '../constructs/data-bucket';
import { Monitoring } from '../constructs/monitoring';
import { Notifications } from '../constructs/notifications';
import { RecommendApi } from '../constructs/recommend-api';
import { ReelflowFunction } from '../constructs/reelflow-function';
import { RollbackAlarms } from '../constructs/rollback-alarms';
import { RunTrigger } from '../constructs/run-trigger';
import { SageMakerRoles } from '../constructs/sagemaker-roles';
import { ServingImage } from '../constructs/serving-image';
import {
  apiGatewayExecutionLogGroupName,
  sageMakerLogGroupNames,
  ServiceLogRetention,
} from '../constructs/service-log-retention';
import { WorkflowFunctions } from '../constructs/workflow-functions';

export interface ReelflowStackProps extends StackProps {
  /** The validated deploy configuration. */
  readonly config: DeployConfig;
  /** The project key (ReelflowDataStack). */
  readonly key: kms.IKey;
  /**
   * Name of the data bucket (ReelflowDataStack, generated). Passed as a name and imported here, so that
   * grants in this stack never add statements to the data stack's resources.
   */
  readonly dataBucketName: string;
  /** ARN and name of the serving image repository (ReelflowDataStack), imported here for the same reason. */
  readonly servingRepository: { readonly repositoryArn: string; readonly repositoryName: string };
  /**
   * Name of the access-log bucket (from ReelflowDataStack). Passed as a name, not the bucket: the
   * artifact bucket logging into the bucket object would make the data stack depend on this one.
   */
  readonly accessLogBucketName: string;
}

/**
 * Everything of reelflow that is not data: the trigger, the release pipeline and its two workflows,
 * the serving image and roles, the recommend API, notifications and monitoring. The stack only wires
 * constructs together.
 *
 * It owns no SageMaker model, endpoint config, endpoint or production parameter: those belong to the
 * pipeline, so a `cdk deploy` after a pipeline deployment never reverts the live model.
 */
export class ReelflowStack extends Stack {
  readonly retrain: RetrainWorkflow;
  readonly deploy: DeployWorkflow;
  readonly release: ReleasePipeline;
  readonly api: RecommendApi;

  constructor(scope: Construct, id: string, props: ReelflowStackProps) {
    super(scope, id, props);
    const { config, key } = props;
    const parameterName = productionParameterName(config);
    const dataBucket = s3.Bucket.fromBucketAttributes(this, 'DataBucket', {
      bucketName: props.dataBucketName,
      encryptionKey: key,
    });
    const servingRepository = ecr.Repository.fromRepositoryAttributes(
      this,
      'ServingRepository',
      props.servingRepository,
    );

    const notifications = new Notifications(this, 'Notifications', { key, email: config.approval.email });
    const servingImage = new ServingImage(this, 'ServingImage', { repository: servingRepository });
    const { resourcePrefix } = config;
    const roles = new SageMakerRoles(this, 'SageMakerRoles', {
      dataBucket,
      key,
      servingImage,
      resourcePrefix,
      trainer: config.ml.trainer,
    });

    this.api = new RecommendApi(this, 'RecommendApi', { config, key });
    const rollbackAlarms = new RollbackAlarms(this, 'RollbackAlarms', {
      endpointName: config.endpoint.name,
      api: this.api,
      thresholds: config.alarms,
    });

    const functions = new WorkflowFunctions(this, 'WorkflowFunctions', {
      config,
      dataBucket,
      key,
      productionParameterName: parameterName,
      recommendUrl: this.api.recommendUrl,
    });
    this.api.grantSmokeTest(functions.smokeTest);

    [this.retrain, this.deploy] = this.workflows(config, {
      key,
      dataBucket,
      notifications,
      roles,
      servingImage,
      functions,
      rollbackAlarms,
    });
    this.release = this.releasePipeline(config, {
      key,
      dataBucket,
      notifications,
      servingImage,
      accessLogBucketName: props.accessLogBucketName,
    });

    this.retainServiceLogs(config, key);

    const trigger = this.runTrigger(config, dataBucket, key);

    const monitoring = new Monitoring(this, 'Monitoring', {
      retrain: this.retrain.stateMachine,
      deploy: this.deploy.stateMachine,
      endpointName: config.endpoint.name,
      api: this.api,
      rollbackAlarms,
      stageFunctions: {
        prepare: functions.prepare,
        'build vectors': functions.buildVectors,
        evaluate: functions.evaluate,
      },
      startRunDeadLetters: trigger.deadLetterQueue,
      alerts: notifications.alerts,
      gate: config.ml.gate,
    });

    this.addOutputs(config, { key, dataBucket, servingImage, roles, monitoring });
  }

  /** An upload under `ratings/` starts the release pipeline (EventBridge rule, start-run function). */
  private runTrigger(config: DeployConfig, dataBucket: s3.IBucket, key: kms.IKey): RunTrigger {
    return new RunTrigger(this, 'RunTrigger', {
      dataBucket,
      pipeline: this.release.pipeline,
      key,
      logRetentionDays: config.logRetentionDays,
    });
  }

  /** Retention and encryption of the log groups AWS services create (SageMaker endpoint, API Gateway). */
  private retainServiceLogs(config: DeployConfig, key: kms.IKey): void {
    new ServiceLogRetention(this, 'ServiceLogRetention', {
      logGroupNames: [
        ...sageMakerLogGroupNames(config.endpoint.name),
        apiGatewayExecutionLogGroupName(this.api.api.restApiId, this.api.stageName),
      ],
      retentionDays: config.logRetentionDays,
      logKey: key,
    });
  }

  /** The retrain and deploy workflows of the release pipeline, on this stack's functions and roles. */
  private workflows(
    config: DeployConfig,
    parts: {
      key: kms.IKey;
      dataBucket: s3.IBucket;
      notifications: Notifications;
      roles: SageMakerRoles;
      servingImage: ServingImage;
      functions: WorkflowFunctions;
      rollbackAlarms: RollbackAlarms;
    },
  ): [RetrainWorkflow, DeployWorkflow] {
    const { key, dataBucket, notifications, roles, servingImage, functions, rollbackAlarms } = parts;
    const retrain = new RetrainWorkflow(this, 'Retrain', {
      config,
      key,
      planRun: functions.planRun,
      prepare: functions.prepare,
      buildVectors: functions.buildVectors,
      evaluate: functions.evaluate,
      tune: functions.tune,
      alerts: notifications.alerts,
      trainingRole: roles.trainingRole,
      hostingRole: roles.hostingRole,
      transformRole: roles.transformRole,
      processingRole: roles.processingRole,
      dataBucket,
      servingImageUri: servingImage.imageUri,
      productionParameterName: productionParameterName(config),
    });
    const deploy = new DeployWorkflow(this, 'Deploy', {
      config,
      dataBucket,
      key,
      recordDeployment: functions.recordDeployment,
      smokeTest: functions.smokeTest,
      alerts: notifications.alerts,
      rollbackAlarmNames: rollbackAlarms.alarmNames,
    });
    return [retrain, deploy];
  }

  /** The Summarize function of the Approve stage, and the release pipeline that runs both workflows. */
  private releasePipeline(
    config: DeployConfig,
    parts: {
      key: kms.IKey;
      dataBucket: s3.IBucket;
      notifications: Notifications;
      servingImage: ServingImage;
      /** The access-log bucket's name (ReelflowDataStack), imported here by name. */
      accessLogBucketName: string;
    },
  ): ReleasePipeline {
    const { key, dataBucket, notifications, servingImage } = parts;
    const summarize = new ReelflowFunction(this, 'Summarize', {
      entry: 'functions/pipeline/summarize.ts',
      description: 'reelflow: approval summary (metrics vs production, report link) for the Approve stage',
      logKey: key,
      logRetentionDays: config.logRetentionDays,
      environment: { DATA_BUCKET: dataBucket.bucketName },
    });
    grantPrefixAccess(summarize, dataBucket, key, { read: [RUNS_PREFIX] });

    const accessLogBucket = s3.Bucket.fromBucketName(this, 'AccessLogBucket', parts.accessLogBucketName);
    const release = new ReleasePipeline(this, 'Release', {
      retrain: this.retrain.stateMachine,
      deploy: this.deploy.stateMachine,
      summarize,
      approvalTopic: notifications.approvals,
      approvalTimeout: Duration.minutes(config.approval.timeoutMinutes),
      key,
      accessLogBucket,
      logRetentionDays: config.logRetentionDays,
      servingImage,
    });
    // On the artifact bucket, the one construct that raises it.
    Validations.of(release.node.findChild('Artifacts')).acknowledge({
      id: 'annotation::@aws-cdk/aws-s3:accessLogsPolicyNotAdded',
      reason:
        'The access-log bucket lives in ReelflowDataStack and allows log delivery from this account; adding ' +
        'a per-bucket statement here would make the data stack depend on this one.',
    });
    return release;
  }

  /** What a person needs after `cdk deploy`: where to upload, where to approve, where to look. */
  private addOutputs(
    config: DeployConfig,
    parts: {
      key: kms.IKey;
      dataBucket: s3.IBucket;
      servingImage: ServingImage;
      roles: SageMakerRoles;
      monitoring: Monitoring;
    },
  ): void {
    const { key, dataBucket, servingImage, roles, monitoring } = parts;
    const region = this.region;
    new CfnOutput(this, 'DataBucketName', {
      description: 'Upload rating batches under ratings/ to start a run',
      value: dataBucket.bucketName,
    });
    new CfnOutput(this, 'UploadCommand', {
      description: 'Starts a run: adds a batch of ratings (all batches so far are trained on)',
      value: `aws s3 cp <ratings.csv> s3://${dataBucket.bucketName}/ratings/<date>-<name>.csv`,
    });
    new CfnOutput(this, 'RecommendUrl', {
      description: 'GET ?user_id=N',
      value: this.api.recommendUrl,
    });
    new CfnOutput(this, 'RecommendApiAuth', {
      description: 'How callers authenticate to the recommend API (cdk.json api.auth)',
      value: this.api.authSummary,
    });
    new CfnOutput(this, 'PipelineConsoleUrl', {
      description: 'Runs, and the Approve stage where a person reviews each candidate',
      value: `https://${region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/${this.release.pipeline.pipelineName}/view?region=${region}`,
    });
    new CfnOutput(this, 'ServingImageUri', {
      description: 'The pre/post image of this deployment (the pipeline builds it before Retrain)',
      value: servingImage.imageUri,
    });
    new CfnOutput(this, 'SageMakerQuotas', {
      description: 'Service Quotas (SageMaker) a run needs at least; raise them before the first upload',
      value: [...sageMakerQuotaNeeds(config), ...processingQuotaNeeds(config)]
        .map((need) => `${need.quotaName} >= ${need.instances}`)
        .join('; '),
    });
    // What `reelflow verify-aws` needs to run its one-off jobs exactly as the workflows do.
    new CfnOutput(this, 'TrainingRoleArn', {
      description: 'Role of the FM and k-NN training jobs (reelflow verify-aws)',
      value: roles.trainingRole.roleArn,
    });
    new CfnOutput(this, 'ModelRoleArn', {
      description:
        'Execution role of each run hosting model: the endpoint reads its artifacts (reelflow verify-aws)',
      value: roles.hostingRole.roleArn,
    });
    new CfnOutput(this, 'TransformRoleArn', {
      description: 'Execution role of each run transform model: batch transform writes runs/<id>/transform/',
      value: roles.transformRole.roleArn,
    });
    new CfnOutput(this, 'DataKeyArn', {
      description: 'The project key: volumes, outputs and endpoint storage (reelflow verify-aws)',
      value: key.keyArn,
    });
    new CfnOutput(this, 'EndpointName', {
      description: 'The endpoint the deploy workflow creates and updates',
      value: config.endpoint.name,
    });
    // What the operator CLI (`reelflow status`, `runs`, `approve`, `rollback`, ...) reads to find its way.
    new CfnOutput(this, 'PipelineName', {
      description: 'The release pipeline; each execution id is a run id (reelflow status, runs, approve)',
      value: this.release.pipeline.pipelineName,
    });
    new CfnOutput(this, 'RetrainStateMachineArn', {
      description: "The retrain workflow (the pipeline's Retrain stage) whose executions reelflow show reads",
      value: this.retrain.stateMachine.stateMachineArn,
    });
    new CfnOutput(this, 'DeployStateMachineArn', {
      description: "The deploy workflow (the pipeline's Deploy stage); reelflow rollback starts it directly",
      value: this.deploy.stateMachine.stateMachineArn,
    });
    new CfnOutput(this, 'ProductionParameterName', {
      description:
        'SSM SecureString holding the production record (which run serves); written by the deploy workflow',
      value: productionParameterName(config),
    });
    new CfnOutput(this, 'DashboardUrl', {
      value: `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards:name=${monitoring.dashboard.dashboardName}`,
    });
  }
}
