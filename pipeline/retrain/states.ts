/**
 * The retrain workflow's state names and the config slice it reads. State names are API: the local
 * runtime, the pipeline runner and the tests refer to them.
 */
import type { DeployConfig } from '../config';

/** The retrain workflow's state names: stable, since the local runtime and the tests refer to them. */
export const RETRAIN_STATES = {
  loadConfig: 'LoadConfig',
  prepare: 'Prepare',
  hasData: 'HasData?',
  nothingToDo: 'NothingToDo',
  trainFm: 'TrainFM',
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

/** The part of the deploy config the retrain workflow reads. */
export type RetrainConfig = Pick<
  DeployConfig,
  'resourcePrefix' | 'ml' | 'training' | 'transform' | 'logRetentionDays' | 'workflowLogs'
>;
