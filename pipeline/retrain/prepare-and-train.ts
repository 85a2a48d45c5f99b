/**
 * The retrain workflow's first phase: load the config, prepare the run, stop early when there is no
 * data, then train FM, build the vectors from its factors and train k-NN on them.
 *
 *   LoadConfig -> Prepare -> HasData? (no rating file yet: NothingToDo) -> TrainFM -> BuildVectors -> TrainKNN
 */
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { guard, LAMBDA_RETRY, lambdaStep } from '../workflow-kit';
import { RETRAIN_STATES as S, type RetrainConfig } from './states';
import { trainingTask } from './training-task';

/** Props of {@link PrepareAndTrain}. */
export interface PrepareAndTrainProps {
  /** The ML config, the resource prefix and the training and transform settings (rendered at synth). */
  readonly config: Pick<RetrainConfig, 'ml' | 'resourcePrefix' | 'training' | 'transform'>;
  /** Splits and encodes the ratings, names the run's jobs (the Prepare state). */
  readonly prepare: lambda.IFunction;
  /** Turns the FM model into k-NN vectors and the serving bundle (the BuildVectors state). */
  readonly buildVectors: lambda.IFunction;
  /** The factorization-machines image URI. */
  readonly fmImage: string;
  /** The k-NN image URI. */
  readonly knnImage: string;
  /** Encrypts the training volumes and outputs. */
  readonly key: kms.IKey;
  /** Assumed by the training jobs. */
  readonly trainingRole: iam.IRole;
  /** Where every error goes (the notify-and-fail path). */
  readonly failure: sfn.IChainable;
}

/** LoadConfig through TrainKNN; ends after TrainKNN (NothingToDo ends the execution early). */
export class PrepareAndTrain extends sfn.StateMachineFragment {
  readonly startState: sfn.State;
  readonly endStates: sfn.INextable[];

  constructor(scope: Construct, id: string, props: PrepareAndTrainProps) {
    super(scope, id);
    const { config, failure } = props;
    const loadConfig = new sfn.Pass(this, S.loadConfig, {
      comment: 'The ML config and instance settings, rendered at synth time',
      result: sfn.Result.fromObject({
        ml: config.ml,
        resourcePrefix: config.resourcePrefix,
        training: config.training,
        transform: config.transform,
      }),
      resultPath: '$.config',
    });
    const prepare = guard(
      lambdaStep(
        this,
        S.prepare,
        props.prepare,
        {
          runId: sfn.JsonPath.stringAt('$.runId'),
          executionName: sfn.JsonPath.stringAt('$$.Execution.Name'),
          trigger: sfn.JsonPath.objectAt('$.trigger'),
          config: sfn.JsonPath.objectAt('$.config.ml'),
          resourcePrefix: sfn.JsonPath.stringAt('$.config.resourcePrefix'),
        },
        '$.prepared',
      ),
      failure,
      [LAMBDA_RETRY],
    );
    const common = { training: config.training, key: props.key, role: props.trainingRole, failure };
    const trainFm = trainingTask(this, S.trainFm, {
      ...common,
      jobName: '$.prepared.names.fmJob',
      image: props.fmImage,
      hyperparameters: '$.prepared.hyperparameters.fm',
      channels: [
        { name: 'train', uri: '$.prepared.uris.train', sharded: config.training.fmInstanceCount > 1 },
        { name: 'test', uri: '$.prepared.uris.test', sharded: false },
      ],
      output: '$.prepared.uris.fmOutput',
      instanceType: config.training.fmInstanceType,
      instanceCount: config.training.fmInstanceCount,
      resultPath: '$.fm',
    });
    const buildVectors = guard(
      lambdaStep(
        this,
        S.buildVectors,
        props.buildVectors,
        {
          runId: sfn.JsonPath.stringAt('$.runId'),
          prepared: sfn.JsonPath.objectAt('$.prepared'),
          fm: { artifact: sfn.JsonPath.stringAt('$.fm.artifact') },
        },
        '$.vectors',
      ),
      failure,
      [LAMBDA_RETRY],
    );
    const trainKnn = trainingTask(this, S.trainKnn, {
      ...common,
      jobName: '$.prepared.names.knnJob',
      image: props.knnImage,
      hyperparameters: '$.prepared.hyperparameters.knn',
      channels: [{ name: 'train', uri: '$.vectors.knnTrain', sharded: config.training.knnInstanceCount > 1 }],
      output: '$.prepared.uris.knnOutput',
      instanceType: config.training.knnInstanceType,
      instanceCount: config.training.knnInstanceCount,
      resultPath: '$.knn',
    });

    loadConfig.next(prepare).next(this.hasData(trainFm));
    trainFm.next(buildVectors).next(trainKnn);
    this.startState = loadConfig;
    this.endStates = [trainKnn];
  }

  /**
   * HasData?: no rating file yet (the execution CodePipeline starts when it is created) succeeds
   * without a notice; anything else goes on to `train`. IsPresent guards the comparison, since a
   * candidate's Prepare result has no such field.
   */
  private hasData(train: sfn.IChainable): sfn.Choice {
    const nothingToDo = new sfn.Succeed(this, S.nothingToDo, {
      comment: 'No rating file under ratings/ yet: nothing to train, nothing to notify',
      outputPath: '$.prepared',
    });
    return new sfn.Choice(this, S.hasData)
      .when(
        sfn.Condition.and(
          sfn.Condition.isPresent('$.prepared.nothingToDo'),
          sfn.Condition.booleanEquals('$.prepared.nothingToDo', true),
        ),
        nothingToDo,
      )
      .otherwise(train);
  }
}
