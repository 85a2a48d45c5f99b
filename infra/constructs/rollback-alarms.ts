import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import type { AlarmsConfig } from '../../pipeline/config';
import { rollbackAlarmNames, VARIANT_NAME } from '../../pipeline/names';
import type { RecommendApi } from './recommend-api';

/** Props of {@link RollbackAlarms}. */
export interface RollbackAlarmsProps {
  /** The live endpoint's name (the stack does not own the endpoint; the alarms watch it by name). */
  readonly endpointName: string;
  /** The recommend API whose 5XX rate is the third rollback alarm. */
  readonly api: RecommendApi;
  /** The alarms' thresholds and evaluation periods. */
  readonly thresholds: AlarmsConfig;
}

/**
 * The alarms that roll a blue/green endpoint update back (SageMaker's AutoRollbackConfiguration): the
 * endpoint's 5XX errors, its p99 model latency, and the recommend API's 5XX rate (the recommend
 * function answers 503 when the endpoint fails, so a broken new fleet shows up there too).
 *
 * Names are deterministic (`<endpoint>-rollback-...`, see rollbackAlarmNames) because the deploy workflow passes them to
 * UpdateEndpoint by name. Missing data is not breaching: an idle endpoint must not block deployments.
 */
export class RollbackAlarms extends Construct {
  readonly endpoint5xx: cloudwatch.Alarm;
  readonly modelLatency: cloudwatch.Alarm;
  readonly apiErrors: cloudwatch.Alarm;
  /** The alarm names, literal (not tokens), as UpdateEndpoint's AutoRollbackConfiguration takes them. */
  readonly alarmNames: string[];

  constructor(scope: Construct, id: string, props: RollbackAlarmsProps) {
    super(scope, id);
    const { thresholds, endpointName } = props;
    const endpointDimensions = { EndpointName: endpointName, VariantName: VARIANT_NAME };
    this.alarmNames = rollbackAlarmNames(endpointName);

    this.endpoint5xx = new cloudwatch.Alarm(this, 'Endpoint5xx', {
      alarmName: this.alarmNames[0],
      alarmDescription: 'reelflow rollback: the endpoint answers 5XX errors',
      metric: new cloudwatch.Metric({
        namespace: 'AWS/SageMaker',
        metricName: 'Invocation5XXErrors',
        dimensionsMap: endpointDimensions,
        statistic: 'Sum',
        period: Duration.minutes(1),
      }),
      threshold: thresholds.endpoint5xxThreshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: thresholds.evaluationPeriods,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // ModelLatency is reported in microseconds.
    this.modelLatency = new cloudwatch.Alarm(this, 'ModelLatencyP99', {
      alarmName: this.alarmNames[1],
      alarmDescription: `reelflow rollback: p99 model latency above ${thresholds.modelLatencyP99Ms} ms`,
      metric: new cloudwatch.Metric({
        namespace: 'AWS/SageMaker',
        metricName: 'ModelLatency',
        dimensionsMap: endpointDimensions,
        statistic: 'p99',
        period: Duration.minutes(1),
      }),
      threshold: thresholds.modelLatencyP99Ms * 1000,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: thresholds.evaluationPeriods,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.apiErrors = new cloudwatch.Alarm(this, 'ApiErrorRate', {
      alarmName: this.alarmNames[2],
      alarmDescription: `reelflow rollback: more than ${thresholds.apiErrorRateThreshold * 100} % of API requests answered 5XX`,
      metric: props.api.metricServerErrors({ statistic: 'Average', period: Duration.minutes(1) }),
      threshold: thresholds.apiErrorRateThreshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: thresholds.evaluationPeriods,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  /** Every rollback alarm, in the order the deploy workflow lists them. */
  get alarms(): cloudwatch.Alarm[] {
    return [this.endpoint5xx, this.modelLatency, this.apiErrors];
  }

  /** The alarms' ARNs (for IAM: cloudwatch:DescribeAlarms). */
  get alarmArns(): string[] {
    return this.alarms.map((alarm) => alarm.alarmArn);
  }
}
