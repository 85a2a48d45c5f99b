/**
 * The retrain workflow's state names and the config slice it reads. State names are API: the local
 * runtime, the pipeline runner and the tests refer to them.
 */
import type { DeployConfig } from '../config';

/** The retrain workflow's state names: stable, since the local runtime and the tests refer to them. */
/** The search for the ranking metric (tuning.ts), between HasData? and TrainFM when tuning is on. */
export const TUNING_STATES = {
  planTuning: 'PlanTuning',
  tuningTrials: 'TuningTrials',
  trainTrial: 'TrainTrial',
  scoreTrial: 'ScoreTrial',
  pickBest: 'PickBest',
} as const;

export const RETRAIN_STATES = {
  ...TUNING_STATES,
  loadConfig: 'LoadConfig',
  planRun: 'PlanRun',
  prepare: 'Prepare',
  hasData: 'HasData?',
  nothingToDo: 'NothingToDo',
  trainFm: 'TrainFM',
  /** With `ml.trainer` 'ials', in TrainFM's place: the iALS job in the project's image. */
  trainIals: 'TrainIALS',
  buildVectors: 'BuildVectors',
  trainKnn: 'TrainKNN',
  createModel: 'CreateCandidateModel',
  createTransformModel: 'CreateTransformModel',
  readProduction: 'ReadProduction',
  noProduction: 'NoProduction',
  hasProduction: 'HasProduction?',
  describeProductionModel: 'DescribeProductionModel',
  createProductionTransformModel: 'CreateProductionTransformModel',
  transformBoth: 'TransformBoth',
  transformCandidate: 'TransformCandidate',
  transformProduction: 'TransformProduction',
  transformCandidateOnly: 'TransformCandidateOnly',
  evaluate: 'Evaluate',
  gate: 'Gate',
  candidateReady: 'CandidateReady',
  notifyRejected: 'NotifyRejected',
  candidateRejected: 'CandidateRejected',
  notifyFailure: 'NotifyFailure',
  retrainFailed: 'RetrainFailed',
} as const;

/**
 * The states of a data step's Processing path (pipeline/retrain/processing-step.ts), named after its
 * Lambda Task (`Prepare` -> `PrepareWhere?`, `PrepareInput`, ...).
 */
export function processingStateNames(step: string) {
  return {
    /** Choice on `$.plan.mode`: the Lambda Task or the Processing path. */
    where: `${step}Where?`,
    /** Pass: the Lambda's payload, at `$.processingTask`. */
    payload: `${step}Payload`,
    /** S3 PutObject of the payload as `task/task.json`. */
    input: `${step}Input`,
    /** `createProcessingJob.sync`. */
    processing: `${step}Processing`,
    /** S3 GetObject of `result/result.json`. */
    result: `${step}Result`,
    /** Pass: the result where the Lambda's result goes. */
    parse: `${step}Parse`,
    /** Choice: did the container report a step error? */
    failed: `${step}Failed?`,
    /** Pass: that error at `$.error`, then the failure path. */
    error: `${step}Error`,
  } as const;
}

/** The part of the deploy config the retrain workflow reads. */
export type RetrainConfig = Pick<
  DeployConfig,
  | 'resourcePrefix'
  | 'ml'
  | 'training'
  | 'transform'
  | 'processing'
  | 'tuning'
  | 'logRetentionDays'
  | 'workflowLogs'
>;
