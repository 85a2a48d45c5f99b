import { Duration } from 'aws-cdk-lib';
import type * as codepipeline from 'aws-cdk-lib/aws-codepipeline';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { QUARANTINE_PREFIX } from '../../functions/core/run-layout';
import { grantPrefixAccess } from './bucket-grants';
import { RATINGS_PREFIX } from './data-bucket';
import { ReelflowFunction } from './reelflow-function';

export interface RunTriggerProps {
  /** The data bucket (sends its events to EventBridge). */
  readonly dataBucket: s3.IBucket;
  /** The release pipeline a ratings upload starts. */
  readonly pipeline: codepipeline.IPipeline;
  /** Encrypts the start-run function's log group (the dead-letter queue uses SQS-managed keys). */
  readonly key: kms.IKey;
  /** Retention of the start-run function's log group, days. */
  readonly logRetentionDays: number;
}

/**
 * Upload -> run: an EventBridge rule on the data bucket's "Object Created" and "Object Deleted" events
 * under `ratings/` (a deleted batch is a withdrawn one: the model must stop training on it) invokes the
 * start-run function, which starts the release pipeline with the upload's key and version
 * id as pipeline variables. Events that cannot be delivered, and invocations that keep failing, land
 * in a dead-letter queue encrypted with SQS-managed keys (alarmed by the monitoring construct).
 */
export class RunTrigger extends Construct {
  readonly rule: events.Rule;
  readonly function: ReelflowFunction;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: RunTriggerProps) {
    super(scope, id);

    // SQS-managed encryption: EventBridge (as a rule's dead-letter target) and Lambda (for the function's
    // failed async invocations) can then deliver with nothing but the queue policy / role grant that CDK
    // adds; with the project CMK, both would need the key (events.amazonaws.com in the key policy).
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });

    this.function = new ReelflowFunction(this, 'StartRun', {
      entry: 'functions/pipeline/start-run.ts',
      description: 'reelflow: start the release pipeline for a ratings upload',
      logKey: props.key,
      logRetentionDays: props.logRetentionDays,
      environment: {
        PIPELINE_NAME: props.pipeline.pipelineName,
        DATA_BUCKET: props.dataBucket.bucketName,
        RATINGS_PREFIX,
      },
      deadLetterQueue: this.deadLetterQueue,
    });
    this.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['codepipeline:StartPipelineExecution'],
        resources: [props.pipeline.pipelineArn],
      }),
    );
    // HeadObject of quarantine/<path>: a deletion that is Prepare's own quarantine move starts no run.
    grantPrefixAccess(this.function, props.dataBucket, props.key, { read: [QUARANTINE_PREFIX] });

    this.rule = new events.Rule(this, 'RatingsUploaded', {
      description: 'reelflow: a ratings upload or deletion starts a run',
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created', 'Object Deleted'],
        detail: {
          bucket: { name: [props.dataBucket.bucketName] },
          object: { key: [{ prefix: RATINGS_PREFIX }] },
        },
      },
    });
    this.rule.addTarget(
      new targets.LambdaFunction(this.function, {
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 8,
        maxEventAge: Duration.hours(6),
      }),
    );
  }
}
