/**
 * The retrain workflow's second phase: build the candidate model, read the production record, and let
 * the candidate (and production, when there is one) predict the held-out users in batch.
 *
 *   CreateCandidateModel -> ReadProduction (not found: NoProduction) -> HasProduction?
 *     yes: TransformBoth [TransformCandidate | TransformProduction] (.sync, in parallel)
 *     no:  TransformCandidateOnly (.sync)
 */
import { Stack } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { SERVING_CONTENT_TYPES } from '../../functions/contracts';
import type { TransformConfig } from '../config';
import { guard, SAGEMAKER_CAPACITY_RETRY, SAGEMAKER_RETRY, sageMakerTask, sdkRetry } from '../workflow-kit';
import { RETRAIN_STATES as S } from './states';

/** Props of {@link ModelAndTransform}. */
export interface ModelAndTransformProps {
  /** Batch transform instances and payload size. */
  readonly transform: TransformConfig;
  /** The k-NN image URI (the middle container of the serial inference pipeline). */
  readonly knnImage: string;
  /** The pre/post container image. */
  readonly servingImageUri: string;
  /** The execution role of the candidate model (and of its batch transform). */
  readonly modelRole: iam.IRole;
  /** Encrypts the transform volumes and outputs. */
  readonly key: kms.IKey;
  /** The SSM parameter with the production record (JSON ProductionRecord), absent before the first deploy. */
  readonly productionParameterName: string;
  /** Where every error goes (the notify-and-fail path). */
  readonly failure: sfn.IChainable;
}

/** CreateCandidateModel through the batch transforms; ends after either transform branch. */
export class ModelAndTransform extends sfn.StateMachineFragment {
  readonly startState: sfn.State;
  readonly endStates: sfn.INextable[];

  constructor(scope: Construct, id: string, props: ModelAndTransformProps) {
    super(scope, id);
    const { failure } = props;
    const createModel = this.candidateModel(props);
    const readProduction = this.readProduction(props.productionParameterName);
    const noProduction = new sfn.Pass(this, S.noProduction, {
      comment: 'No deployment yet: evaluate the candidate alone',
      result: sfn.Result.fromObject({ record: null }),
      resultPath: '$.production',
    });
    readProduction.addCatch(noProduction, {
      errors: ['Ssm.ParameterNotFoundException'],
      resultPath: sfn.JsonPath.DISCARD,
    });
    guard(readProduction, failure, [sdkRetry('Ssm')]);

    const candidateJob = ['$.prepared.names.candidateTransformJob', '$.prepared.names.model'] as const;
    const productionJob = [
      '$.prepared.names.productionTransformJob',
      '$.production.record.modelName',
    ] as const;
    const transformCandidate = this.transform(
      props,
      S.transformCandidate,
      ...candidateJob,
      '$.prepared.uris.candidateTransformOutput',
    );
    const transformProduction = this.transform(
      props,
      S.transformProduction,
      ...productionJob,
      '$.prepared.uris.productionTransformOutput',
    );
    for (const task of [transformCandidate, transformProduction]) {
      task.addRetry(SAGEMAKER_RETRY).addRetry(SAGEMAKER_CAPACITY_RETRY);
    }
    const transformBoth = guard(
      new sfn.Parallel(this, S.transformBoth, {
        comment: 'Candidate and production predict the same held-out users',
        resultPath: sfn.JsonPath.DISCARD,
      }),
      failure,
      [],
    );
    transformBoth.branch(transformCandidate).branch(transformProduction);
    const transformCandidateOnly = guard(
      this.transform(
        props,
        S.transformCandidateOnly,
        ...candidateJob,
        '$.prepared.uris.candidateTransformOutput',
      ),
      failure,
      [SAGEMAKER_RETRY, SAGEMAKER_CAPACITY_RETRY],
    );

    // Written as IsNull: true (not IsNull: false): aws-local-stepfunctions 3.0 evaluates a false type
    // test as never matching, and the local runtime runs this same definition.
    const hasProduction = new sfn.Choice(this, S.hasProduction)
      .when(sfn.Condition.isNull('$.production.record'), transformCandidateOnly)
      .otherwise(transformBoth);
    noProduction.next(hasProduction);
    createModel.next(readProduction).next(hasProduction);
    this.startState = createModel;
    this.endStates = hasProduction.afterwards().endStates;
  }

  /** One model version = one serial inference pipeline: pre -> built-in k-NN -> post, all from this run. */
  private candidateModel(props: ModelAndTransformProps): sfn.CustomState {
    return guard(
      sageMakerTask(this, S.createModel, {
        action: 'createModel',
        parameters: {
          'ModelName.$': '$.prepared.names.model',
          ExecutionRoleArn: props.modelRole.roleArn,
          EnableNetworkIsolation: true,
          InferenceExecutionConfig: { Mode: 'Serial' },
          Containers: [
            {
              ContainerHostname: 'pre',
              Image: props.servingImageUri,
              'ModelDataUrl.$': '$.vectors.servingBundle',
              Environment: { REELFLOW_ROLE: 'pre' },
            },
            {
              ContainerHostname: 'knn',
              Image: props.knnImage,
              'ModelDataUrl.$': '$.knn.artifact',
              Environment: { SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT: SERVING_CONTENT_TYPES.accept },
            },
            {
              ContainerHostname: 'post',
              Image: props.servingImageUri,
              'ModelDataUrl.$': '$.vectors.servingBundle',
              Environment: { REELFLOW_ROLE: 'post' },
            },
          ],
        },
        resultSelector: { 'arn.$': '$.ModelArn' },
        resultPath: '$.model',
      }),
      props.failure,
      [SAGEMAKER_RETRY],
    );
  }

  /** The production record from SSM (decrypted), parsed into `$.production.record`. */
  private readProduction(parameterName: string): tasks.CallAwsService {
    const parameterArn = Stack.of(this).formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: parameterName.replace(/^\//, ''),
    });
    return new tasks.CallAwsService(this, S.readProduction, {
      service: 'ssm',
      action: 'getParameter',
      parameters: { Name: parameterName, WithDecryption: true },
      iamResources: [parameterArn],
      resultSelector: { 'record.$': 'States.StringToJson($.Parameter.Value)' },
      resultPath: '$.production',
    });
  }

  /** A `createTransformJob.sync` Task of model `modelName` over the run's held-out users. */
  private transform(
    props: ModelAndTransformProps,
    id: string,
    jobName: string,
    modelName: string,
    output: string,
  ): sfn.CustomState {
    return sageMakerTask(this, id, {
      action: 'createTransformJob',
      sync: true,
      parameters: {
        'TransformJobName.$': jobName,
        'ModelName.$': modelName,
        // One input line = one request of up to USERS_PER_TRANSFORM_RECORD users (functions/core/prepare.ts):
        // MultiRecord would pack lines up to MaxPayloadInMB, hundreds of thousands of users at once.
        BatchStrategy: 'SingleRecord',
        MaxPayloadInMB: props.transform.maxPayloadMb,
        TransformInput: {
          ContentType: SERVING_CONTENT_TYPES.batchRequest,
          SplitType: 'Line',
          DataSource: {
            S3DataSource: { S3DataType: 'S3Prefix', 'S3Uri.$': '$.prepared.uris.transformInput' },
          },
        },
        TransformOutput: {
          'S3OutputPath.$': output,
          Accept: SERVING_CONTENT_TYPES.accept,
          AssembleWith: 'Line',
          KmsKeyId: props.key.keyArn,
        },
        TransformResources: {
          InstanceType: props.transform.instanceType,
          InstanceCount: props.transform.instanceCount,
          VolumeKmsKeyId: props.key.keyArn,
        },
      },
    });
  }
}
