/**
 * The retrain workflow's first phase: load the config, plan where the data steps run, prepare the run,
 * stop early when there is no data, then train the embeddings (FM, or iALS), build the vectors from
 * their factors and train k-NN on them.
 *
 *   LoadConfig -> PlanRun -> [Prepare] -> HasData? (no rating file yet: NothingToDo)
 *   -> (with tuning.enabled: PlanTuning -> TuningTrials -> PickBest, tuning.ts) -> TrainFM
 *   -> [BuildVectors] -> TrainKNN
 *
 * With `ml.trainer` 'ials' (a choice made at synth) TrainIALS takes TrainFM's place: a training job of
 * the project's own image (`node /app/training.js train`, functions/training/main.ts) on the run's
 * `prepared/split/train.csv` (text/csv), one instance, its output where FM's goes and its result at
 * `$.fm` as TrainFM's, so BuildVectors reads it the same way (it knows the trainer from run.json). The
 * job keeps FM's name slot (`names.fmJob`): the retrain role, Evaluate's DescribeTrainingJob and its IAM
 * scope stay as they are. The tuning search tunes FM and is refused with iALS (config-rules.ts).
 *
 * [Prepare] and [BuildVectors] are data steps (processing-step.ts): the Lambda Task of that name, or the
 * same code as a SageMaker Processing job, as PlanRun decided. The training jobs run the instance counts
 * those steps return (the configured count, cut to the files of the sharded train channel).
 */
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import {
  IALS_METRIC_DEFINITIONS,
  TRAIN_CHANNEL,
  TRAINING_ARGUMENTS,
  TRAINING_ENTRYPOINT,
} from '../../functions/training/main';
import { guard, LAMBDA_RETRY, lambdaStep } from '../workflow-kit';
import { DataStep, type ProcessingJobSettings } from './processing-step';
import { RETRAIN_STATES as S, type RetrainConfig } from './states';
import { trainingTask, type TrainingTaskProps } from './training-task';
import { Tuning } from './tuning';

/** The iALS job's train channel under the run's prefix: Prepare's split (functions/core/prepare.ts). */
export const IALS_TRAIN_KEY = 'prepared/split/train.csv';

/** What every training Task of the phase shares. */
type CommonTrainingProps = Pick<TrainingTaskProps, 'training' | 'key' | 'role' | 'failure'>;

/** Props of {@link PrepareAndTrain}. */
export interface PrepareAndTrainProps {
  /** The ML config, the resource prefix and the training and transform settings (rendered at synth). */
  readonly config: Pick<
    RetrainConfig,
    'ml' | 'resourcePrefix' | 'training' | 'transform' | 'processing' | 'tuning'
  >;
  /**
   * Plans, scores and picks the tuning trials; required with `tuning.enabled`.
   * @default - none (tuning off)
   */
  readonly tune?: lambda.IFunction;
  /** Decides where the data steps run (the PlanRun state). */
  readonly planRun: lambda.IFunction;
  /** The Processing path of the data steps (role, image, key, bucket; config.processing for the rest). */
  readonly processing: Omit<ProcessingJobSettings, 'config'>;
  /** Splits and encodes the ratings, names the run's jobs (the Prepare state). */
  readonly prepare: lambda.IFunction;
  /** Turns the FM model into k-NN vectors and the serving bundle (the BuildVectors state). */
  readonly buildVectors: lambda.IFunction;
  /** The factorization-machines image URI (the iALS job runs `processing.imageUri`, the project's image). */
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
        processing: config.processing,
      }),
      resultPath: '$.config',
    });
    const planRun = this.planRun(props);
    const processing: ProcessingJobSettings = { ...props.processing, config: config.processing };
    const prepare = new DataStep(this, 'PrepareStep', {
      step: 'prepare',
      stateName: S.prepare,
      fn: props.prepare,
      payload: {
        runId: sfn.JsonPath.stringAt('$.runId'),
        executionName: sfn.JsonPath.stringAt('$$.Execution.Name'),
        trigger: sfn.JsonPath.objectAt('$.trigger'),
        config: sfn.JsonPath.objectAt('$.config.ml'),
        resourcePrefix: sfn.JsonPath.stringAt('$.config.resourcePrefix'),
        fmInstanceCount: sfn.JsonPath.numberAt('$.config.training.fmInstanceCount'),
      },
      resultPath: '$.prepared',
      processing,
      failure,
    });
    const [trainEmbeddings, trainKnn] = this.trainingTasks(props);
    const buildVectors = new DataStep(this, 'BuildVectorsStep', {
      step: 'build-vectors',
      stateName: S.buildVectors,
      fn: props.buildVectors,
      payload: {
        runId: sfn.JsonPath.stringAt('$.runId'),
        prepared: sfn.JsonPath.objectAt('$.prepared'),
        fm: { artifact: sfn.JsonPath.stringAt('$.fm.artifact') },
        knnInstanceCount: sfn.JsonPath.numberAt('$.config.training.knnInstanceCount'),
      },
      resultPath: '$.vectors',
      processing,
      failure,
    });
    loadConfig
      .next(planRun)
      .next(prepare)
      .next(this.hasData(this.tuning(props, trainEmbeddings)));
    trainEmbeddings.next(buildVectors).next(trainKnn);
    this.startState = loadConfig;
    this.endStates = [trainKnn];
  }

  /** With `tuning.enabled`, the search (tuning.ts) before `trainFm`; otherwise `trainFm` itself. */
  private tuning(props: PrepareAndTrainProps, trainFm: sfn.IChainable): sfn.IChainable {
    const { config } = props;
    if (!config.tuning.enabled) return trainFm;
    if (!props.tune) throw new Error('tuning.enabled needs the tune function (props.tune)');
    if (config.ml.trainer !== 'fm') throw new Error('the tuning search tunes FM only (ml.trainer fm)');
    const tuning = new Tuning(this, 'Tuning', {
      tuning: config.tuning,
      tune: props.tune,
      fmImage: props.fmImage,
      training: config.training,
      key: props.key,
      trainingRole: props.trainingRole,
      failure: props.failure,
    });
    tuning.next(trainFm);
    return tuning;
  }

  /** PlanRun: where the data steps run this time (`$.plan`). */
  private planRun(props: PrepareAndTrainProps): tasks.LambdaInvoke {
    return guard(
      lambdaStep(
        this,
        S.planRun,
        props.planRun,
        {
          runId: sfn.JsonPath.stringAt('$.runId'),
          executionName: sfn.JsonPath.stringAt('$$.Execution.Name'),
          config: {
            mode: sfn.JsonPath.stringAt('$.config.processing.mode'),
            autoThresholdBytes: sfn.JsonPath.numberAt('$.config.processing.autoThresholdBytes'),
            instanceType: sfn.JsonPath.stringAt('$.config.processing.instanceType'),
            volumeSizeGb: sfn.JsonPath.numberAt('$.config.processing.volumeSizeGb'),
            maxRuntimeSeconds: sfn.JsonPath.numberAt('$.config.processing.maxRuntimeSeconds'),
            resourcePrefix: sfn.JsonPath.stringAt('$.config.resourcePrefix'),
          },
        },
        '$.plan',
      ),
      props.failure,
      [LAMBDA_RETRY],
    );
  }

  /**
   * TrainFM (or TrainIALS) and TrainKNN, each on the instance count its data step returned (TrainIALS on
   * one instance: the trainer does not distribute).
   */
  private trainingTasks(props: PrepareAndTrainProps): [sfn.CustomState, sfn.CustomState] {
    const { config, failure } = props;
    const common = { training: config.training, key: props.key, role: props.trainingRole, failure };
    const trainEmbeddings =
      config.ml.trainer === 'ials' ? this.trainIals(props, common) : this.trainFm(props, common);
    const trainKnn = trainingTask(this, S.trainKnn, {
      ...common,
      jobName: '$.prepared.names.knnJob',
      image: props.knnImage,
      hyperparameters: '$.prepared.hyperparameters.knn',
      channels: [{ name: 'train', uri: '$.vectors.knnTrain', sharded: config.training.knnInstanceCount > 1 }],
      output: '$.prepared.uris.knnOutput',
      instanceType: config.training.knnInstanceType,
      instanceCount: config.training.knnInstanceCount,
      instanceCountPath: '$.vectors.knnInstanceCount',
      resultPath: '$.knn',
    });
    return [trainEmbeddings, trainKnn];
  }

  /** TrainFM: the built-in on Prepare's recordIO shards (train, test), sharded over its instances. */
  private trainFm(props: PrepareAndTrainProps, common: CommonTrainingProps): sfn.CustomState {
    const { training } = props.config;
    return trainingTask(this, S.trainFm, {
      ...common,
      jobName: '$.prepared.names.fmJob',
      image: props.fmImage,
      hyperparameters: '$.prepared.hyperparameters.fm',
      channels: [
        { name: 'train', uri: '$.prepared.uris.train', sharded: training.fmInstanceCount > 1 },
        { name: 'test', uri: '$.prepared.uris.test', sharded: false },
      ],
      output: '$.prepared.uris.fmOutput',
      instanceType: training.fmInstanceType,
      instanceCount: training.fmInstanceCount,
      instanceCountPath: '$.prepared.training.fmInstanceCount',
      resultPath: '$.fm',
    });
  }

  /**
   * TrainIALS: the project's image runs functions/training/main.ts on the run's training split (CSV, one
   * file, one instance of the FM instance type), with the iALS HyperParameters Prepare returned.
   */
  private trainIals(props: PrepareAndTrainProps, common: CommonTrainingProps): sfn.CustomState {
    return trainingTask(this, S.trainIals, {
      ...common,
      jobName: '$.prepared.names.fmJob',
      image: props.processing.imageUri,
      container: {
        entrypoint: TRAINING_ENTRYPOINT,
        arguments: TRAINING_ARGUMENTS,
        metricDefinitions: IALS_METRIC_DEFINITIONS,
      },
      hyperparameters: '$.prepared.hyperparameters.ials',
      channels: [
        {
          name: TRAIN_CHANNEL,
          uri: `States.Format('{}${IALS_TRAIN_KEY}', $.prepared.uris.prefix)`,
          sharded: false,
          contentType: 'text/csv',
        },
      ],
      output: '$.prepared.uris.fmOutput',
      instanceType: props.config.training.fmInstanceType,
      instanceCount: 1,
      resultPath: '$.fm',
    });
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
