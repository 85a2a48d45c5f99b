/**
 * The test-channel metrics of an FM training job, named as the SageMaker built-in reports them in
 * DescribeTrainingJob's `FinalMetricDataList` (its metric definitions, which are also its tuning
 * objectives: https://docs.aws.amazon.com/sagemaker/latest/dg/fm-tuning.html):
 *
 * - `binary_classifier`: `test:binary_classification_accuracy`, `test:binary_classification_cross_entropy`
 *   and `test:binary_f_beta` (the log's `test binary_f_1.000`, i.e. F1 at threshold 0.5);
 * - `regressor`: `test:rmse`.
 *
 * The values are the trainer's own `fmMetrics` of the final model's scores on the test examples, the same
 * numbers `trainFm` returns as `metrics.test` and bench/fm-workshop.ts prints against the workshop's log.
 */
import type { FmHyperparameters } from '../config';
import type { FmModel, SparseExamples } from '../types';
import { fmMetrics, scoreFm } from './train';

/** One entry of DescribeTrainingJob's FinalMetricDataList (without its Timestamp). */
export interface FinalMetric {
  readonly MetricName: string;
  readonly Value: number;
}

/** The built-in's FinalMetricDataList name of each trainer metric, per predictor type, in report order. */
export const FM_TEST_METRIC_NAMES: Readonly<
  Record<FmHyperparameters['predictor_type'], Readonly<Record<string, string>>>
> = {
  binary_classifier: {
    binary_classification_accuracy: 'test:binary_classification_accuracy',
    binary_classification_cross_entropy: 'test:binary_classification_cross_entropy',
    'binary_f_1.000': 'test:binary_f_beta',
  },
  regressor: { rmse: 'test:rmse' },
};

/**
 * The trainer's test metrics (`fmMetrics` names) under the built-in's FinalMetricDataList names; the
 * trainer's extras the built-in does not report (`binary_precision`, `binary_recall`) are left out.
 */
export function finalTestMetrics(
  predictorType: FmHyperparameters['predictor_type'],
  testMetrics: Readonly<Record<string, number>>,
): FinalMetric[] {
  return Object.entries(FM_TEST_METRIC_NAMES[predictorType]).flatMap(([local, builtin]) =>
    testMetrics[local] === undefined ? [] : [{ MetricName: builtin, Value: testMetrics[local] }],
  );
}

/** Scores `model` on the test examples and names the metrics as the built-in's FinalMetricDataList. */
export function fmTestMetrics(
  predictorType: FmHyperparameters['predictor_type'],
  model: FmModel,
  test: SparseExamples,
): FinalMetric[] {
  return finalTestMetrics(predictorType, fmMetrics(predictorType, scoreFm(model, test), test.label));
}
