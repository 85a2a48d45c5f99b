/**
 * The deploy workflow's state names, the constants its states share with the local runtime and the
 * tests (endpoint config naming, the not-found pattern, the failed statuses), and its config slice.
 */
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { DeployConfig } from '../config';

/** The deploy workflow's state names: stable, since the local runtime and the tests refer to them. */
export const DEPLOY_STATES = {
  loadCandidate: 'LoadCandidate',
  gatePassed: 'GatePassed?',
  nothingToDeploy: 'NothingToDeploy',
  candidateRefused: 'CandidateRefused',
  invalidRollback: 'InvalidRollback',
  takeRollbackRequest: 'TakeRollbackRequest',
  compareWithRollbackSource: 'CompareWithRollbackSource',
  readProduction: 'ReadProduction',
  noProduction: 'NoProduction',
  sameProduction: 'SameProduction?',
  recordStaleBaseline: 'RecordStaleBaseline',
  notifyStaleBaseline: 'NotifyStaleBaseline',
  staleBaseline: 'StaleBaseline',
  nameEndpointConfig: 'NameEndpointConfig',
  createEndpointConfig: 'CreateEndpointConfig',
  findEndpoint: 'FindEndpoint',
  endpointExists: 'EndpointExists?',
  findEndpointFailed: 'FindEndpointFailed',
  deleteFailedEndpoint: 'DeleteFailedEndpoint',
  startDeletionPolling: 'StartDeletionPolling',
  waitForDeletion: 'WaitForDeletion',
  checkDeleted: 'CheckDeleted',
  endpointGone: 'EndpointGone?',
  deletionCheckFailed: 'DeletionCheckFailed',
  countDeletionPoll: 'CountDeletionPoll',
  deletionBudgetLeft: 'DeletionBudgetLeft?',
  deletionTimedOut: 'DeletionTimedOut',
  updateEndpoint: 'UpdateEndpoint',
  createEndpoint: 'CreateEndpoint',
  startPolling: 'StartPolling',
  waitForEndpoint: 'WaitForEndpoint',
  describeEndpoint: 'DescribeEndpoint',
  endpointStatus: 'EndpointStatus?',
  newConfigServing: 'NewConfigServing?',
  recordDeployed: 'RecordDeployed',
  smokeTest: 'SmokeTest',
  notifyDeployed: 'NotifyDeployed',
  deployed: 'Deployed',
  readRollbackAlarms: 'ReadRollbackAlarms',
  recordRollback: 'RecordRollback',
  notifyRollback: 'NotifyRollback',
  rolledBack: 'RolledBack',
  endpointFailed: 'EndpointFailed',
  countPoll: 'CountPoll',
  pollBudgetLeft: 'PollBudgetLeft?',
  pollTimedOut: 'PollTimedOut',
  readFailureAlarms: 'ReadFailureAlarms',
  recordFailure: 'RecordFailure',
  notifyFailure: 'NotifyFailure',
  deployFailed: 'DeployFailed',
} as const;

/** The part of the deploy config the deploy workflow reads. */
export type DeployWorkflowConfig = Pick<
  DeployConfig,
  'resourcePrefix' | 'endpoint' | 'deployment' | 'logRetentionDays'
>;

/** The cause text of DescribeEndpoint's error when the endpoint does not exist. */
export const ENDPOINT_NOT_FOUND_PATTERN = '*Could not find endpoint*';

/** Where NameEndpointConfig puts this attempt's endpoint config name. */
export const ENDPOINT_CONFIG_NAME_PATH = '$.endpointConfig.name';

/**
 * This attempt's endpoint config name: the run's prefix and the first group of a fresh UUID (8 hex
 * characters; functions/core/run-layout.ts keeps room for them within SageMaker's 63).
 */
export const ENDPOINT_CONFIG_NAME_EXPRESSION =
  "States.Format('{}-{}', $.candidate.names.endpointConfigPrefix, " +
  "States.ArrayGetItem(States.StringSplit(States.UUID(), '-'), 0))";

/** Endpoint statuses after which polling stops with a failure. */
export const ENDPOINT_FAILED_STATUSES = [
  'Failed',
  'UpdateRollbackFailed',
  'OutOfService',
  'Deleting',
] as const;

/**
 * The caught DescribeEndpoint error at `path` says the endpoint does not exist. A missing endpoint is
 * no modelled SDK error: it comes as SageMaker's generic exception with "Could not find endpoint" in
 * the cause, which this tells apart from real failures.
 */
export function endpointNotFound(path: string): sfn.Condition {
  return sfn.Condition.and(
    sfn.Condition.isPresent(`${path}.Cause`),
    sfn.Condition.stringMatches(`${path}.Cause`, ENDPOINT_NOT_FOUND_PATTERN),
  );
}

/** The ARNs the deploy workflow acts on and is granted on. */
export interface DeployTargets {
  /** The live endpoint. */
  readonly endpointArn: string;
  /** Every endpoint config of the project (`<prefix>-*`). */
  readonly endpointConfigArn: string;
  /** The rollback alarms. */
  readonly alarmArns: string[];
  /** The SSM parameter with the production record (read by ReadProduction). */
  readonly productionParameterArn: string;
}
