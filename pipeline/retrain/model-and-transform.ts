/**
 * The retrain workflow's second phase: build the candidate's models, read the production record, and let
 * the candidate (and production, when there is one) predict the held-out users in batch.
 *
 *   CreateCandidateModel -> CreateTransformModel -> ReadProduction (not found: NoProduction) -> HasProduction?
 *     yes: DescribeProductionModel -> CreateProductionTransformModel
 *          -> TransformBoth [TransformCandidate | TransformProduction] (.sync, in parallel)
 *     no:  TransformCandidateOnly (.sync)
 *
 * A SageMaker model has one execution role, so each model version exists twice: the hosting model
 * (`names.model`, hosting role: reads its artifacts, writes nothing; the deploy workflow serves it) and
 * a transform model with the same containers (transform role: may write the transform output). The
 * batch transforms run on transform models only; production's is copied from its hosting model.
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
  /** The execution role of the hosting model (`names.model`, the one the endpoint serves). */
  readonly hostingRole: iam.IRole;
  /** The execution role of the transform models (`names.transformModel`, `names.productionTransformModel`). */
  readonly transformRole: iam.IRole;
  /** Every model of a run is named `<resourcePrefix>-...` (DescribeModel is granted on those). */
  readonly resourcePrefix: string;
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
    // CreateCandidateModel (hosting role) -> CreateTransformModel (transform role): the same containers.
    const candidateModels = this.candidateModel(props, S.createModel, 'model', props.hostingRole).next(
      this.candidateModel(props, S.createTransformModel, 'transformModel', props.transformRole),
    );
    const productionTransformModel = this.productionTransformModel(props);
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

    const candidateJob = [
      '$.prepared.names.candidateTransformJob',
      '$.prepared.names.transformModel',
    ] as const;
    const productionJob = [
      '$.prepared.names.productionTransformJob',
      '$.prepared.names.productionTransformModel',
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
      .otherwise(productionTransformModel);
    productionTransformModel.next(transformBoth);
    noProduction.next(hasProduction);
    candidateModels.next(readProduction).next(hasProduction);
    this.startState = candidateModels.startState as sfn.State;
    this.endStates = hasProduction.afterwards().endStates;
  }

  /**
   * One model version = one serial inference pipeline: pre -> built-in k-NN -> post, all from this run,
   * named `$.prepared.names.<name>`, run as `role`.
   */
  private candidateModel(
    props: ModelAndTransformProps,
    id: string,
    name: 'model' | 'transformModel',
    role: iam.IRole,
  ): sfn.CustomState {
    const container = (hostname: string, image: string, modelData: string, environment: object) => ({
      ContainerHostname: hostname,
      Image: image,
      'ModelDataUrl.$': modelData,
      Environment: environment,
    });
    return this.createModel(props, id, `$.prepared.names.${name}`, role, [
      container('pre', props.servingImageUri, '$.vectors.servingBundle', { REELFLOW_ROLE: 'pre' }),
      container('knn', props.knnImage, '$.knn.artifact', {
        SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT: SERVING_CONTENT_TYPES.accept,
      }),
      container('post', props.servingImageUri, '$.vectors.servingBundle', { REELFLOW_ROLE: 'post' }),
    ]);
  }

  /** A createModel Task (serial inference pipeline, network isolation) named by `namePath`, run as `role`. */
  private createModel(
    props: ModelAndTransformProps,
    id: string,
    namePath: string,
    role: iam.IRole,
    containers: Record<string, unknown>[],
  ): sfn.CustomState {
    return guard(
      sageMakerTask(this, id, {
        action: 'createModel',
        parameters: {
          'ModelName.$': namePath,
          ExecutionRoleArn: role.roleArn,
          EnableNetworkIsolation: true,
          InferenceExecutionConfig: { Mode: 'Serial' },
          Containers: containers,
        },
        // The hosting model's ARN is kept at $.model; the transform models' are discarded.
        ...(id === S.createModel ? { resultSelector: { 'arn.$': '$.ModelArn' }, resultPath: '$.model' } : {}),
      }),
      props.failure,
      [SAGEMAKER_RETRY],
    );
  }

  /**
   * DescribeProductionModel -> CreateProductionTransformModel: production's three containers (image,
   * artifact, environment, as its hosting model has them), as a model of the transform role.
   */
  private productionTransformModel(props: ModelAndTransformProps): sfn.Chain {
    const hostnames = ['pre', 'knn', 'post'];
    const fields = ['ContainerHostname', 'Image', 'ModelDataUrl', 'Environment'];
    const describe = new tasks.CallAwsService(this, S.describeProductionModel, {
      service: 'sagemaker',
      action: 'describeModel',
      parameters: { ModelName: sfn.JsonPath.stringAt('$.production.record.modelName') },
      iamResources: [
        Stack.of(this).formatArn({
          service: 'sagemaker',
          resource: 'model',
          resourceName: `${props.resourcePrefix}-*`,
        }),
      ],
      // Every model the pipeline deploys is the pre -> knn -> post pipeline built above.
      resultSelector: Object.fromEntries(
        hostnames.map((hostname, index) => [
          hostname,
          Object.fromEntries(fields.map((field) => [`${field}.$`, `$.Containers[${index}].${field}`])),
        ]),
      ),
      resultPath: '$.productionModel',
    });
    guard(describe, props.failure, [sdkRetry('SageMaker')]);
    const create = this.createModel(
      props,
      S.createProductionTransformModel,
      '$.prepared.names.productionTransformModel',
      props.transformRole,
      hostnames.map((hostname) =>
        Object.fromEntries(fields.map((field) => [`${field}.$`, `$.productionModel.${hostname}.${field}`])),
      ),
    );
    return describe.next(create);
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
