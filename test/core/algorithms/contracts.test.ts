/**
 * The built-ins' documented contracts (functions/core/algorithms/*.json) and what reelflow sends
 * against them: prepare's FM and k-NN HyperParameters use documented names only, exactly the required
 * ones plus the ones the config chooses, every value a string the built-in accepts.
 */
import {
  BuiltinClientError,
  documentedHyperparameters,
  FACTORIZATION_MACHINES,
  KNN,
  requiredHyperparameters,
  resolveAcceptType,
  validateChannels,
  validateHyperparameters,
} from '../../../functions/core/algorithms';
import { parseMlConfig } from '../../../functions/core/config';
import { trainingHyperparameters } from '../../../functions/core/prepare';

const RECORDIO = 'application/x-recordio-protobuf';

function failureReason(fn: () => void): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(BuiltinClientError);
    return (error as BuiltinClientError).failureReason;
  }
  throw new Error('expected a BuiltinClientError');
}

describe('the documented contracts', () => {
  it('name their doc pages and hold the documented tables', () => {
    expect(FACTORIZATION_MACHINES.sources.hyperparameters).toBe(
      'https://docs.aws.amazon.com/sagemaker/latest/dg/fact-machines-hyperparameters.html',
    );
    expect(KNN.sources.hyperparameters).toBe(
      'https://docs.aws.amazon.com/sagemaker/latest/dg/kNN_hyperparameters.html',
    );
    expect(KNN.sources.inferenceFormats).toBe(
      'https://docs.aws.amazon.com/sagemaker/latest/dg/kNN-inference-formats.html',
    );
    expect(requiredHyperparameters(FACTORIZATION_MACHINES)).toEqual([
      'feature_dim',
      'num_factors',
      'predictor_type',
    ]);
    expect(requiredHyperparameters(KNN)).toEqual(['feature_dim', 'k', 'predictor_type', 'sample_size']);
    expect(documentedHyperparameters(FACTORIZATION_MACHINES)).toHaveLength(26);
    expect(documentedHyperparameters(FACTORIZATION_MACHINES)).not.toContain('optimizer');
    expect(documentedHyperparameters(KNN)).toEqual(
      expect.arrayContaining([
        'index_type',
        'index_metric',
        'faiss_index_ivf_nlists',
        'faiss_index_pq_m',
        'mini_batch_size',
      ]),
    );
  });

  it('list the training channels and content types', () => {
    expect(FACTORIZATION_MACHINES.training.channels).toEqual([
      { name: 'train', required: true, contentTypes: [RECORDIO] },
      { name: 'test', required: false, contentTypes: [RECORDIO] },
    ]);
    expect(KNN.training.channels.map((c) => [c.name, c.required, c.contentTypes])).toEqual([
      ['train', true, ['text/csv', RECORDIO]],
      ['test', false, ['text/csv', RECORDIO]],
    ]);
  });

  it('list the inference Accept types, verbose only for JSON and recordIO', () => {
    expect(KNN.inference.acceptTypes).toEqual([
      'application/json',
      'application/json; verbose=true',
      'application/jsonlines',
      RECORDIO,
      `${RECORDIO}; verbose=true`,
    ]);
    expect(resolveAcceptType(KNN, 'application/json;verbose=TRUE')).toBe('application/json; verbose=true');
    expect(() => resolveAcceptType(KNN, 'application/jsonlines; verbose=true')).toThrow(/not supported/);
  });
});

describe('what prepare sends', () => {
  const config = parseMlConfig({});
  const { fm, knn } = trainingHyperparameters(config, 2625);

  it('FM: documented names only, exactly the required ones plus the chosen ones, all strings', () => {
    const documented = documentedHyperparameters(FACTORIZATION_MACHINES);
    expect(Object.keys(fm).filter((k) => !documented.includes(k))).toEqual([]);
    const chosen = Object.keys(config.fm).filter((k) => config.fm[k as keyof typeof config.fm] !== undefined);
    expect(new Set(Object.keys(fm))).toEqual(
      new Set([...requiredHyperparameters(FACTORIZATION_MACHINES), ...chosen]),
    );
    expect(fm).not.toHaveProperty('optimizer');
    expect(Object.values(fm).every((v) => typeof v === 'string')).toBe(true);
    expect(() => validateHyperparameters(FACTORIZATION_MACHINES, fm)).not.toThrow();
  });

  it('k-NN: documented names only, exactly the required ones plus the chosen ones, all strings', () => {
    const documented = documentedHyperparameters(KNN);
    expect(Object.keys(knn).filter((k) => !documented.includes(k))).toEqual([]);
    expect(new Set(Object.keys(knn))).toEqual(
      new Set([...requiredHyperparameters(KNN), ...Object.keys(config.knn)]),
    );
    expect(Object.values(knn).every((v) => typeof v === 'string')).toBe(true);
    expect(() => validateHyperparameters(KNN, knn)).not.toThrow();
  });

  it("sends the documented optional ones the config sets, and nothing for those it doesn't", () => {
    const set = parseMlConfig({ fm: { clip_gradient: 1, bias_init_method: 'constant', bias_init_value: 0 } });
    const sent = trainingHyperparameters(set, 10).fm;
    expect(sent).toMatchObject({ clip_gradient: '1', bias_init_method: 'constant', bias_init_value: '0' });
    expect(sent).not.toHaveProperty('eps');
  });
});

describe("the built-in's refusals, as FailureReasons", () => {
  const fm = trainingHyperparameters(parseMlConfig({}), 2625).fm;

  it('an undocumented hyperparameter (the first AWS run: optimizer)', () => {
    expect(
      failureReason(() => validateHyperparameters(FACTORIZATION_MACHINES, { ...fm, optimizer: 'adam' })),
    ).toBe(
      "ClientError: Additional hyperparameters are not allowed (u'optimizer' was unexpected) (caused by ValidationError)",
    );
    expect(failureReason(() => validateHyperparameters(KNN, { a: '1', b: '2' }))).toMatch(
      /\(u'a', u'b' were unexpected\)/,
    );
  });

  it('missing required ones, invalid values and cross-field rules', () => {
    const noFactors = Object.fromEntries(Object.entries(fm).filter(([k]) => k !== 'num_factors'));
    expect(failureReason(() => validateHyperparameters(FACTORIZATION_MACHINES, noFactors))).toBe(
      "ClientError: No value(s) were specified for 'num_factors' which are required hyperparameter(s) (caused by ValidationError)",
    );
    expect(
      failureReason(() =>
        validateHyperparameters(FACTORIZATION_MACHINES, { ...fm, predictor_type: 'ranker' }),
      ),
    ).toBe(
      "ClientError: The value 'ranker' is not valid for the 'predictor_type' hyperparameter which accepts one of the " +
        "following: 'binary_classifier', 'regressor' (caused by ValidationError)",
    );
    expect(
      failureReason(() => validateHyperparameters(FACTORIZATION_MACHINES, { ...fm, bias_lr: '-1' })),
    ).toMatch(/'bias_lr' hyperparameter which expects a non-negative float/);
    const knn = { feature_dim: '89', k: '100', predictor_type: 'classifier', sample_size: '1000' };
    expect(
      failureReason(() => validateHyperparameters(KNN, { ...knn, dimension_reduction_type: 'sign' })),
    ).toMatch(/No value\(s\) were specified for 'dimension_reduction_target'/);
    expect(
      failureReason(() =>
        validateHyperparameters(KNN, {
          ...knn,
          dimension_reduction_type: 'sign',
          dimension_reduction_target: '89',
        }),
      ),
    ).toMatch(/between 0 and feature_dim \(89\), exclusive/);
    expect(
      failureReason(() =>
        validateHyperparameters(KNN, { ...knn, index_type: 'faiss.IVFPQ', index_metric: 'COSINE' }),
      ),
    ).toMatch(
      /'COSINE' is not valid for the 'index_metric' hyperparameter when 'index_type' is 'faiss.IVFPQ'/,
    );
    expect(() =>
      validateHyperparameters(KNN, { ...knn, faiss_index_ivf_nlists: 'auto', faiss_index_pq_m: '8' }),
    ).not.toThrow();
  });

  it('wrong channel names and content types', () => {
    const train = { ChannelName: 'train', ContentType: RECORDIO };
    expect(() =>
      validateChannels(FACTORIZATION_MACHINES, [train, { ChannelName: 'test', ContentType: RECORDIO }]),
    ).not.toThrow();
    expect(
      failureReason(() => validateChannels(FACTORIZATION_MACHINES, [train, { ChannelName: 'validation' }])),
    ).toBe(
      "ClientError: Channel 'validation' is not supported by the factorization-machines algorithm; " +
        "supported channels: 'train' (required), 'test'",
    );
    expect(
      failureReason(() =>
        validateChannels(FACTORIZATION_MACHINES, [{ ChannelName: 'train', ContentType: 'text/csv' }]),
      ),
    ).toMatch(
      /^ClientError: Content type 'text\/csv' of channel 'train' is not supported by the factorization-machines algorithm/,
    );
    expect(() =>
      validateChannels(KNN, [{ ChannelName: 'train', ContentType: 'text/csv; label_size=1' }]),
    ).not.toThrow();
    expect(failureReason(() => validateChannels(KNN, [{ ChannelName: 'test' }]))).toMatch(
      /Required channel 'train'/,
    );
  });
});
