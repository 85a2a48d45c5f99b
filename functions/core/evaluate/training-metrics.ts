/**
 * The training job's own numbers in an evaluation: the FM job's test-channel metrics as the built-in
 * reports them in DescribeTrainingJob's `FinalMetricDataList` (accuracy, F1, cross-entropy; RMSE for a
 * regressor), read back from the job so evaluation.json, the report and the approval text show what
 * the workshop's notebook showed. A job without them (no test channel) is reported as such, and so is
 * a DescribeTrainingJob that failed: neither fails the evaluation. A run trained with iALS
 * (`ml.trainer: ials`) reports that job's `train:` metrics instead: it has no test channel.
 */

/** What the evaluation knows about the FM job's test metrics. */
export interface FmTrainingReport {
  /** The training job's name. */
  readonly job: string;
  /**
   * `reported`: the job's FinalMetricDataList has test metrics; `absent`: the job has none (no test
   * channel); `unavailable`: DescribeTrainingJob could not be read (`note` says why).
   */
  readonly status: 'reported' | 'absent' | 'unavailable';
  /** FinalMetricDataList name -> value for the `test:` metrics, e.g. `test:binary_f_beta`; null unless reported. */
  readonly testMetrics: Readonly<Record<string, number>> | null;
  readonly note?: string;
}

/**
 * What the evaluation knows about an iALS job's own figures: its `train:` metrics (the final weighted
 * loss, `train:final_loss`), which the job prints for its MetricDefinitions (functions/training/main.ts).
 * iALS has no test channel: its held-out quality is the evaluation's ranking metrics.
 */
export interface IalsTrainingReport {
  readonly job: string;
  /** As FmTrainingReport's: `absent` when FinalMetricDataList has no `train:` metric. */
  readonly status: 'reported' | 'absent' | 'unavailable';
  /** FinalMetricDataList name -> value for the `train:` metrics; null unless reported. */
  readonly trainMetrics: Readonly<Record<string, number>> | null;
  readonly note?: string;
}

/** Training facts of a run shown with its evaluation: the job of the run's trainer (`ml.trainer`). */
export interface TrainingReport {
  readonly fm?: FmTrainingReport;
  readonly ials?: IalsTrainingReport;
}

/** Short labels of the built-in's FM test metrics, in display order. */
export const FM_TEST_METRIC_LABELS: Readonly<Record<string, string>> = {
  'test:binary_classification_accuracy': 'accuracy',
  'test:binary_f_beta': 'F1',
  'test:binary_classification_cross_entropy': 'cross-entropy',
  'test:rmse': 'RMSE',
};

/**
 * The built-in's figures in the seed workshop (MovieLens-100k ua.base / ua.test, label rating >= 4,
 * the workshop's FM settings), from the executed notebook's training log
 * (johanneslanger/recommendations-on-aws-workshop@fb6c718); shown next to a run's own as a reference.
 */
export const WORKSHOP_FM_TEST_METRICS: Readonly<Record<string, number>> = {
  'test:binary_classification_accuracy': 0.6978,
  'test:binary_f_beta': 0.7436,
  'test:binary_classification_cross_entropy': 0.5769,
};

/** One FinalMetricDataList entry as the SDK returns it. */
export interface MetricDatum {
  readonly MetricName?: string;
  readonly Value?: number;
}

/** The finite metrics of a FinalMetricDataList whose names start with `prefix`. */
function metricsWithPrefix(
  finalMetrics: readonly MetricDatum[] | undefined,
  prefix: string,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { MetricName: name, Value: value } of finalMetrics ?? []) {
    if (name?.startsWith(prefix) && typeof value === 'number' && Number.isFinite(value)) out[name] = value;
  }
  return out;
}

/** The report of a described job: its `test:` metrics, or `absent` when it has none. */
export function fmTrainingReport(
  job: string,
  finalMetrics: readonly MetricDatum[] | undefined,
): FmTrainingReport {
  const testMetrics = metricsWithPrefix(finalMetrics, 'test:');
  if (Object.keys(testMetrics).length === 0) {
    return {
      job,
      status: 'absent',
      testMetrics: null,
      note: 'the training job reported no test metrics (FinalMetricDataList has none: no test channel?)',
    };
  }
  return { job, status: 'reported', testMetrics };
}

/** The report of a described iALS job: its `train:` metrics, or `absent` when it has none. */
export function ialsTrainingReport(
  job: string,
  finalMetrics: readonly MetricDatum[] | undefined,
): IalsTrainingReport {
  const trainMetrics = metricsWithPrefix(finalMetrics, 'train:');
  if (Object.keys(trainMetrics).length === 0) {
    return {
      job,
      status: 'absent',
      trainMetrics: null,
      note: 'the training job reported no train: metrics (FinalMetricDataList has none)',
    };
  }
  return { job, status: 'reported', trainMetrics };
}

/** The report when DescribeTrainingJob failed (permissions, throttling, ...). */
export function fmTrainingUnavailable(job: string, error: unknown): FmTrainingReport {
  return { job, status: 'unavailable', testMetrics: null, note: describeFailure(error) };
}

/** The iALS report when DescribeTrainingJob failed. */
export function ialsTrainingUnavailable(job: string, error: unknown): IalsTrainingReport {
  return { job, status: 'unavailable', trainMetrics: null, note: describeFailure(error) };
}

function describeFailure(error: unknown): string {
  const e = error as { name?: string; message?: string };
  return `DescribeTrainingJob failed: ${e?.name ?? 'Error'}: ${e?.message ?? String(error)}`;
}

/** `accuracy 0.6978, F1 0.7436, cross-entropy 0.5769` (known metrics first, then any other). */
export function formatFmTestMetrics(metrics: Readonly<Record<string, number>>, digits = 4): string {
  const known = Object.keys(FM_TEST_METRIC_LABELS).filter((name) => metrics[name] !== undefined);
  const others = Object.keys(metrics).filter((name) => !(name in FM_TEST_METRIC_LABELS));
  return [...known, ...others]
    .map((name) => `${FM_TEST_METRIC_LABELS[name] ?? name} ${metrics[name].toFixed(digits)}`)
    .join(', ');
}
