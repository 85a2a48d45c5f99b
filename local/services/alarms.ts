/**
 * Local CloudWatch alarms: the stack's three rollback alarms (infra/constructs/rollback-alarms.ts; names from pipeline/names.ts), same
 * names, same thresholds from the deploy config, fed by what the local fleets and the local API measure:
 *
 * - `<endpoint>-rollback-5xx`: Sum of the endpoint's Invocation5XXErrors per period >= threshold;
 * - `<endpoint>-rollback-model-latency-p99`: p99 of the endpoint's ModelLatency per period > threshold;
 * - `<endpoint>-rollback-api-5xx-rate`: Average of the API's 5XXError (the share of 5XX answers) per
 *   period > threshold.
 *
 * As in CloudWatch, a period is one minute (scaled by the local time scale), an alarm fires when its last
 * `evaluationPeriods` complete periods all breach, and missing data is not breaching. The endpoint
 * metrics are per endpoint and variant (both fleets of a blue/green update report under them), as the
 * alarms' dimensions are.
 *
 * `setAlarmState` forces a state, like `aws cloudwatch set-alarm-state`: CloudWatch keeps it until the
 * alarm is next evaluated from its metrics; locally it holds for `evaluationPeriods` periods, the time
 * the alarm needs to refill its evaluation window.
 */
import { rollbackAlarmNames } from '../../pipeline/names';
import type { AlarmsConfig } from '../../pipeline/config';
import { AwsServiceError, type AwsJsonService } from './aws-json-server';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './local-account';

export type AlarmMetric = 'Invocation5XXErrors' | 'ModelLatency' | 'ApiServerErrors';
export type AlarmStateValue = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

export interface AlarmDefinition {
  readonly name: string;
  readonly description: string;
  readonly metric: AlarmMetric;
  readonly statistic: 'Sum' | 'p99' | 'Average';
  readonly comparison: 'GreaterThanOrEqualToThreshold' | 'GreaterThanThreshold';
  readonly threshold: number;
  readonly evaluationPeriods: number;
}

export interface AlarmState {
  readonly name: string;
  readonly value: AlarmStateValue;
  readonly reason: string;
  readonly updatedAt: string;
}

/** Thrown for an alarm name no local alarm has. */
export class AlarmNotFoundError extends Error {
  constructor(name: string, known: readonly string[]) {
    super(`no alarm named '${name}'; the local alarms are ${known.join(', ')}`);
    this.name = 'AlarmNotFoundError';
  }
}

interface Bucket {
  sum: number;
  count: number;
  values?: number[];
}

/** Periods of data kept per metric beyond the longest evaluation window. */
const SPARE_PERIODS = 2;

export class LocalAlarms {
  private readonly definitions: readonly AlarmDefinition[];
  private readonly buckets = new Map<AlarmMetric, Map<number, Bucket>>();
  private readonly forced = new Map<
    string,
    { value: AlarmStateValue; reason: string; until: number; at: number }
  >();
  private readonly origin: number;

  /**
   * @param periodMs one alarm period in local milliseconds (60 s scaled)
   * @param now a monotonic clock in milliseconds
   */
  constructor(
    definitions: readonly AlarmDefinition[],
    readonly periodMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.definitions = definitions;
    this.origin = now();
  }

  /** The rollback alarms of `endpointName` with the configured thresholds. */
  static rollbackAlarms(
    endpointName: string,
    config: AlarmsConfig,
    periodMs: number,
    now?: () => number,
  ): LocalAlarms {
    const [errors, latency, api] = rollbackAlarmNames(endpointName);
    const periods = config.evaluationPeriods;
    return new LocalAlarms(
      [
        {
          name: errors,
          description: 'reelflow rollback: the endpoint answers 5XX errors',
          metric: 'Invocation5XXErrors',
          statistic: 'Sum',
          comparison: 'GreaterThanOrEqualToThreshold',
          threshold: config.endpoint5xxThreshold,
          evaluationPeriods: periods,
        },
        {
          name: latency,
          description: `reelflow rollback: p99 model latency above ${config.modelLatencyP99Ms} ms`,
          metric: 'ModelLatency',
          statistic: 'p99',
          comparison: 'GreaterThanThreshold',
          threshold: config.modelLatencyP99Ms,
          evaluationPeriods: periods,
        },
        {
          name: api,
          description: `reelflow rollback: more than ${config.apiErrorRateThreshold * 100} % of API requests answered 5XX`,
          metric: 'ApiServerErrors',
          statistic: 'Average',
          comparison: 'GreaterThanThreshold',
          threshold: config.apiErrorRateThreshold,
          evaluationPeriods: periods,
        },
      ],
      Math.max(1, periodMs),
      now,
    );
  }

  get names(): string[] {
    return this.definitions.map((d) => d.name);
  }

  /**
   * Records one data point: a count of 5XX answers, a latency in milliseconds, or for the API 1 (a 5XX
   * answer) or 0 (any other answer), whose Average is the error rate.
   */
  record(metric: AlarmMetric, value: number): void {
    const period = this.periodAt(this.now());
    let buckets = this.buckets.get(metric);
    if (!buckets) {
      buckets = new Map();
      this.buckets.set(metric, buckets);
    }
    let bucket = buckets.get(period);
    if (!bucket) {
      bucket = { sum: 0, count: 0, values: metric === 'ModelLatency' ? [] : undefined };
      buckets.set(period, bucket);
      const oldest = period - this.longestWindow() - SPARE_PERIODS;
      for (const key of buckets.keys()) if (key < oldest) buckets.delete(key);
    }
    bucket.sum += value;
    bucket.count += 1;
    bucket.values?.push(value);
  }

  /** Forces an alarm's state, as `aws cloudwatch set-alarm-state` does. */
  setAlarmState(name: string, value: AlarmStateValue, reason: string): void {
    const definition = this.definition(name);
    const at = this.now();
    this.forced.set(name, { value, reason, at, until: at + definition.evaluationPeriods * this.periodMs });
  }

  /** The current state of one alarm. */
  state(name: string): AlarmState {
    const definition = this.definition(name);
    const now = this.now();
    const forced = this.forced.get(name);
    if (forced && now < forced.until) {
      return { name, value: forced.value, reason: forced.reason, updatedAt: this.timestamp(forced.at) };
    }
    return this.evaluate(definition, now);
  }

  /** The first of `names` in ALARM, if any. */
  firing(names: readonly string[]): AlarmState | undefined {
    for (const name of names) {
      const state = this.state(name);
      if (state.value === 'ALARM') return state;
    }
    return undefined;
  }

  /** DescribeAlarms, as the SDK integration returns it (MetricAlarms in definition order). */
  describeAlarms(input: { AlarmNames?: readonly string[]; StateValue?: AlarmStateValue }): {
    MetricAlarms: Record<string, unknown>[];
    CompositeAlarms: never[];
  } {
    const selected = input.AlarmNames?.length
      ? this.definitions.filter((d) => input.AlarmNames!.includes(d.name))
      : this.definitions;
    const alarms = selected
      .map((definition) => ({ definition, state: this.state(definition.name) }))
      .filter(({ state }) => !input.StateValue || state.value === input.StateValue)
      .map(({ definition, state }) => ({
        AlarmName: definition.name,
        AlarmArn: `arn:aws:cloudwatch:${LOCAL_REGION}:${LOCAL_ACCOUNT}:alarm:${definition.name}`,
        AlarmDescription: definition.description,
        StateValue: state.value,
        StateReason: state.reason,
        StateUpdatedTimestamp: state.updatedAt,
        MetricName: definition.metric === 'ApiServerErrors' ? '5XXError' : definition.metric,
        Namespace: definition.metric === 'ApiServerErrors' ? 'AWS/ApiGateway' : 'AWS/SageMaker',
        ExtendedStatistic: definition.statistic === 'p99' ? 'p99' : undefined,
        Statistic: definition.statistic === 'p99' ? undefined : definition.statistic,
        Period: 60,
        EvaluationPeriods: definition.evaluationPeriods,
        Threshold: definition.threshold,
        ComparisonOperator: definition.comparison,
        TreatMissingData: 'notBreaching',
      }));
    return { MetricAlarms: alarms, CompositeAlarms: [] };
  }

  private evaluate(definition: AlarmDefinition, now: number): AlarmState {
    const current = this.periodAt(now);
    const buckets = this.buckets.get(definition.metric);
    const values: string[] = [];
    let breaching = 0;
    // The last evaluationPeriods complete periods; missing data is not breaching.
    for (let p = current - definition.evaluationPeriods; p < current; p++) {
      const bucket = buckets?.get(p);
      if (!bucket || bucket.count === 0) continue;
      const value = statistic(definition.statistic, bucket);
      values.push(formatValue(value));
      const breaches =
        definition.comparison === 'GreaterThanOrEqualToThreshold'
          ? value >= definition.threshold
          : value > definition.threshold;
      if (breaches) breaching++;
    }
    const at = this.timestamp(this.origin + current * this.periodMs);
    if (breaching === definition.evaluationPeriods) {
      return {
        name: definition.name,
        value: 'ALARM',
        reason: `Threshold Crossed: ${definition.evaluationPeriods} datapoints [${values.join(', ')}] were ${comparisonText(definition)} the threshold (${definition.threshold})`,
        updatedAt: at,
      };
    }
    return {
      name: definition.name,
      value: 'OK',
      reason:
        values.length === 0
          ? 'no datapoints in the evaluation window (missing data is not breaching)'
          : `datapoints [${values.join(', ')}] were not all ${comparisonText(definition)} the threshold (${definition.threshold})`,
      updatedAt: at,
    };
  }

  private definition(name: string): AlarmDefinition {
    const definition = this.definitions.find((d) => d.name === name);
    if (!definition) throw new AlarmNotFoundError(name, this.names);
    return definition;
  }

  private periodAt(time: number): number {
    return Math.floor((time - this.origin) / this.periodMs);
  }

  private longestWindow(): number {
    return Math.max(...this.definitions.map((d) => d.evaluationPeriods));
  }

  private timestamp(time: number): string {
    return new Date(Date.now() - (this.now() - time)).toISOString();
  }
}

function statistic(kind: AlarmDefinition['statistic'], bucket: Bucket): number {
  if (kind === 'Sum') return bucket.sum;
  if (kind === 'Average') return bucket.sum / bucket.count;
  const sorted = [...(bucket.values ?? [])].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)];
}

function comparisonText(definition: AlarmDefinition): string {
  return definition.comparison === 'GreaterThanOrEqualToThreshold'
    ? 'greater than or equal to'
    : 'greater than';
}

function formatValue(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(3);
}

/**
 * The alarms as CloudWatch's JSON API (target prefix `GraniteServiceVersion20100801`, awsJson1_0):
 * `DescribeAlarms` and `SetAlarmState`, which the `reelflow alarm` command calls.
 */
export function cloudWatchJsonService(alarms: LocalAlarms): AwsJsonService {
  return {
    targetPrefix: 'GraniteServiceVersion20100801',
    version: '1.0',
    operations: {
      DescribeAlarms: (input) => alarms.describeAlarms(input),
      SetAlarmState: (input) => {
        const value = String(input.StateValue);
        if (!['OK', 'ALARM', 'INSUFFICIENT_DATA'].includes(value)) {
          throw new AwsServiceError(
            'InvalidFormatFault',
            `StateValue must be OK, ALARM or INSUFFICIENT_DATA, got ${value}`,
          );
        }
        try {
          alarms.setAlarmState(
            String(input.AlarmName),
            value as AlarmStateValue,
            String(input.StateReason ?? 'set by hand'),
          );
        } catch (error) {
          if (error instanceof AlarmNotFoundError)
            throw new AwsServiceError('ResourceNotFound', error.message, 404);
          throw error;
        }
        return {};
      },
    },
  };
}
