import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { GateConfig } from '../../functions/core/config';
import { METRICS_NAMESPACE } from '../../functions/common/namespace';
import { VARIANT_NAME } from '../../pipeline/names';
import type { RecommendApi } from './recommend-api';
import type { RollbackAlarms } from './rollback-alarms';

/** Props of {@link Monitoring}. */
export interface MonitoringProps {
  /** The retrain workflow: runs, durations and timeouts. */
  readonly retrain: sfn.IStateMachine;
  /** The deploy workflow: runs, durations and timeouts. */
  readonly deploy: sfn.IStateMachine;
  /** The live endpoint's name (the stack does not own the endpoint; its metrics are found by name). */
  readonly endpointName: string;
  /** The recommend API: requests, errors, latency and its function's errors. */
  readonly api: RecommendApi;
  /** The rollback alarms, shown on the dashboard and sent to the alerts topic. */
  readonly rollbackAlarms: RollbackAlarms;
  /** The data steps whose durations are the long stages of a run. */
  readonly stageFunctions: Readonly<Record<string, lambda.IFunction>>;
  /** The run trigger's dead-letter queue (uploads that could not start a run). */
  readonly startRunDeadLetters: sqs.IQueue;
  /** Alarm actions publish here. */
  readonly alerts: sns.ITopic;
  /** The gate's metrics: the dashboard graphs each of them per model version. */
  readonly gate: GateConfig;
}

/** CloudWatch metric name of an evaluation metric: `ndcg@10` -> `ndcg_at_10` (what Evaluate emits). */
export function evaluationMetricName(metric: string): string {
  return metric.replace('@', '_at_');
}

/** The dashboard's title row (new widgets per dashboard: the dashboard positions them). */
function headerRow(): cloudwatch.IWidget[] {
  return [
    new cloudwatch.TextWidget({
      markdown:
        '# reelflow\nRuns, stage durations, the live endpoint, the recommend API and model metrics per version.',
      width: 24,
      height: 2,
    }),
  ];
}

/**
 * The reelflow dashboard and its operational alarms.
 *
 * Dashboard rows: runs (executions of both workflows), stage durations (workflow execution time and the
 * data steps' Lambda durations), the endpoint (invocations, model latency, errors), the recommend API
 * (requests, latency, 4XX/5XX, the rollback alarms' state), and the model metrics per version: the
 * Evaluate step emits them in the `Reelflow` namespace with dimensions Model (candidate | production)
 * and RunId (plus Powertools' own `service`), graphed with a SEARCH expression on exactly that dimension
 * set, so each new run appears without a deploy.
 *
 * Alarms (to the alerts topic): the rollback alarms, undeliverable uploads (dead letters), recommend
 * function errors, and timed-out workflow executions.
 */
export class Monitoring extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const alertAction = new cwActions.SnsAction(props.alerts);
    for (const alarm of props.rollbackAlarms.alarms) alarm.addAlarmAction(alertAction);
    this.addOperationalAlarms(props);
    for (const alarm of this.alarms) alarm.addAlarmAction(alertAction);

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(7),
      widgets: [
        headerRow(),
        ...this.runRows(props),
        this.endpointRow(props.endpointName),
        this.apiRow(props),
        this.modelRow(props.gate),
      ],
    });
  }

  /** Undeliverable uploads, recommend function errors and timed-out workflow executions. */
  private addOperationalAlarms(props: MonitoringProps): void {
    this.alarms.push(
      new cloudwatch.Alarm(this, 'UndeliveredUploads', {
        alarmDescription: 'reelflow: ratings uploads that could not start a run (dead-letter queue)',
        metric: props.startRunDeadLetters.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(5),
          statistic: 'Maximum',
        }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'RecommendFunctionErrors', {
        alarmDescription:
          'reelflow: the recommend function failed (it answers every request, so this is a bug)',
        metric: props.api.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    for (const [alarmId, name, machine] of [
      ['RetrainTimedOut', 'retrain', props.retrain],
      ['DeployTimedOut', 'deploy', props.deploy],
    ] as const) {
      this.alarms.push(
        new cloudwatch.Alarm(this, alarmId, {
          alarmDescription: `reelflow: a ${name} execution timed out`,
          metric: machine.metricTimedOut({ period: Duration.minutes(5), statistic: 'Sum' }),
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }
  }

  /** Runs (executions of both workflows) and stage durations (workflows, data steps). */
  private runRows(props: MonitoringProps): cloudwatch.IWidget[][] {
    const hour = Duration.hours(1);
    const runs = (machine: sfn.IStateMachine, name: string): cloudwatch.IMetric[] => [
      machine.metricStarted({ period: hour, statistic: 'Sum', label: `${name} started` }),
      machine.metricSucceeded({ period: hour, statistic: 'Sum', label: `${name} succeeded` }),
      machine.metricFailed({ period: hour, statistic: 'Sum', label: `${name} failed` }),
    ];
    return [
      [
        new cloudwatch.GraphWidget({
          title: 'Runs: retrain executions',
          left: runs(props.retrain, 'retrain'),
          width: 12,
        }),
        new cloudwatch.GraphWidget({
          title: 'Runs: deploy executions',
          left: runs(props.deploy, 'deploy'),
          width: 12,
        }),
      ],
      [
        new cloudwatch.GraphWidget({
          title: 'Stage durations: workflows (ms)',
          left: [
            props.retrain.metricTime({ period: hour, statistic: 'Maximum', label: 'retrain' }),
            props.deploy.metricTime({ period: hour, statistic: 'Maximum', label: 'deploy' }),
          ],
          width: 12,
        }),
        new cloudwatch.GraphWidget({
          title: 'Stage durations: data steps (ms)',
          left: Object.entries(props.stageFunctions).map(([label, fn]) =>
            fn.metricDuration({ period: hour, statistic: 'Maximum', label }),
          ),
          width: 12,
        }),
      ],
    ];
  }

  /** The live endpoint: invocations, errors and latency of its AllTraffic variant. */
  private endpointRow(endpointName: string): cloudwatch.IWidget[] {
    const endpointMetric = (metricName: string, statistic: string, label: string): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace: 'AWS/SageMaker',
        metricName,
        dimensionsMap: { EndpointName: endpointName, VariantName: VARIANT_NAME },
        statistic,
        period: Duration.minutes(1),
        label,
      });
    return [
      new cloudwatch.GraphWidget({
        title: 'Endpoint: invocations and errors',
        left: [
          endpointMetric('Invocations', 'Sum', 'invocations'),
          endpointMetric('Invocation4XXErrors', 'Sum', '4XX'),
          endpointMetric('Invocation5XXErrors', 'Sum', '5XX'),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Endpoint: model latency (microseconds)',
        left: [
          endpointMetric('ModelLatency', 'p50', 'p50'),
          endpointMetric('ModelLatency', 'p99', 'p99'),
          endpointMetric('OverheadLatency', 'p99', 'overhead p99'),
        ],
        width: 12,
      }),
    ];
  }

  /** The recommend API (requests, errors, latency) and the state of every alarm. */
  private apiRow(props: MonitoringProps): cloudwatch.IWidget[] {
    return [
      new cloudwatch.GraphWidget({
        title: 'API: requests and errors',
        left: [
          props.api.metricRequests({ label: 'requests' }),
          props.api.metricClientErrors({ label: '4XX' }),
          props.api.metricServerErrors({ statistic: 'Sum', label: '5XX' }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'API: latency (ms)',
        left: [
          props.api.metricLatency({ label: 'p99' }),
          props.api.metricLatency({ statistic: 'p50', label: 'p50' }),
        ],
        width: 8,
      }),
      new cloudwatch.AlarmStatusWidget({
        title: 'Rollback and operational alarms',
        alarms: [...props.rollbackAlarms.alarms, ...this.alarms],
        width: 8,
      }),
    ];
  }

  /** One graph per gate metric, per model version (a SEARCH on the dimensions Evaluate emits). */
  private modelRow(gate: GateConfig): cloudwatch.IWidget[] {
    const metricNames = [...new Set([gate.primaryMetric, ...gate.regressionMetrics])];
    return metricNames.map(
      (metric) =>
        new cloudwatch.GraphWidget({
          title: `Model metric per version: ${metric}`,
          left: [
            new cloudwatch.MathExpression({
              expression: `SEARCH('{${METRICS_NAMESPACE},Model,RunId,service} MetricName="${evaluationMetricName(metric)}"', 'Maximum', 86400)`,
              label: '',
              period: Duration.days(1),
            }),
          ],
          width: Math.max(6, Math.floor(24 / metricNames.length)),
        }),
    );
  }
}
