import {
  ConfigError,
  fmHyperparametersFromStrings,
  knnHyperparametersFromStrings,
  parseMlConfig,
  toHyperparameterStrings,
} from '../../functions/core/config';

describe('parseMlConfig', () => {
  it('fills the documented defaults when given nothing', () => {
    const config = parseMlConfig({});
    expect(config.encoding.objective).toBe('implicit');
    expect(config.split).toEqual({ mode: 'temporal-per-user', testShare: 0.2, minUserRatings: 5 });
    expect(config.knn).toMatchObject({ k: 100, index_metric: 'INNER_PRODUCT', index_type: 'faiss.Flat' });
    expect(config.evaluation.ks).toEqual([5, 10, 25]);
    expect(config.ingest.maxBadRowShare).toBe(0.01);
  });

  it('throws an error naming every bad key', () => {
    expect(() => parseMlConfig({ split: { testShare: 1.5 }, fm: { epochs: 0 } })).toThrow(
      /ml\.split\.testShare[\s\S]*ml\.fm\.epochs/,
    );
  });

  it('throws when global-time has no cut-off', () => {
    expect(() => parseMlConfig({ split: { mode: 'global-time' } })).toThrow(/ml\.split\.cutoffTimestamp/);
  });

  it('refuses an unknown key in every nested section, naming it', () => {
    for (const [section, key] of [
      ['ingest', 'maxBadRowShares'],
      ['split', 'testshare'],
      ['encoding', 'negativeRatios'],
      ['evaluation', 'k'],
      ['gate', 'primary'],
      ['fm', 'epoch'],
      ['knn', 'kk'],
    ]) {
      expect(() => parseMlConfig({ [section]: { [key]: 1 } })).toThrow(
        new RegExp(`invalid config ml\\.${section}\\.${key}: .*'${key}'`),
      );
    }
    expect(() => parseMlConfig({ split: { testshare: 0.3 } })).toThrow(/known keys: mode, testShare/);
  });

  it('has documented defaults for the ingest limits', () => {
    expect(parseMlConfig({}).ingest).toMatchObject({
      maxFutureSeconds: 86_400,
      maxDecompressedBytes: 8 * 1024 ** 3,
    });
  });

  it('throws when the rating range is empty', () => {
    expect(() => parseMlConfig({ ingest: { ratingMin: 5, ratingMax: 1 } })).toThrow(ConfigError);
  });
});

describe('hyperparameter strings', () => {
  it('round-trips FM hyperparameters through the strings CreateTrainingJob takes', () => {
    const { fm } = parseMlConfig({ fm: { num_factors: 16, factors_wd: 1e-5 } });
    const strings = toHyperparameterStrings({ ...fm, feature_dim: 2625 });
    expect(Object.values(strings).every((v) => typeof v === 'string')).toBe(true);
    expect(strings.factors_wd).toBe('0.00001');
    expect(fmHyperparametersFromStrings(strings)).toEqual({ ...fm, feature_dim: 2625 });
  });

  it('round-trips k-NN hyperparameters', () => {
    const { knn } = parseMlConfig({});
    expect(knnHyperparametersFromStrings(toHyperparameterStrings({ ...knn, feature_dim: 66 }))).toEqual({
      ...knn,
      feature_dim: 66,
    });
  });

  const FM_REQUIRED = { feature_dim: '10', num_factors: '4', predictor_type: 'binary_classifier' };
  const KNN_REQUIRED = { feature_dim: '6', k: '5', predictor_type: 'classifier', sample_size: '100' };

  it("throws on an unknown hyperparameter with the built-in's words", () => {
    expect(() => fmHyperparametersFromStrings({ ...FM_REQUIRED, bogus: '1' })).toThrow(
      "Additional hyperparameters are not allowed (u'bogus' was unexpected)",
    );
  });

  it('throws on a missing or bad feature_dim', () => {
    expect(() => fmHyperparametersFromStrings({})).toThrow(
      "No value(s) were specified for 'feature_dim', 'num_factors', 'predictor_type' which are required hyperparameter(s)",
    );
    expect(() => knnHyperparametersFromStrings({ ...KNN_REQUIRED, feature_dim: '6.5' })).toThrow(
      "The value '6.5' is not valid for the 'feature_dim' hyperparameter which expects a positive integer",
    );
  });

  it('throws on a value of the wrong type', () => {
    expect(() => fmHyperparametersFromStrings({ ...FM_REQUIRED, epochs: 'many' })).toThrow(
      /'many' is not valid for the 'epochs' hyperparameter/,
    );
  });

  it("fills absent optional ones with the built-in's documented defaults, not reelflow's", () => {
    // The built-in trains 1 epoch and uses L2 unless told otherwise; so does the local stand-in.
    expect(fmHyperparametersFromStrings(FM_REQUIRED)).toMatchObject({ epochs: 1, mini_batch_size: 1000 });
    expect(knnHyperparametersFromStrings(KNN_REQUIRED)).toMatchObject({ index_metric: 'L2' });
  });
});

describe('ml.fm / ml.knn hold documented built-in hyperparameters only', () => {
  it('refuses ml.fm.optimizer, naming the key, the built-in and the doc page', () => {
    let message = '';
    try {
      parseMlConfig({ fm: { optimizer: 'adam' } });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toBe(
      "invalid config ml.fm.optimizer: 'optimizer' is not a documented hyperparameter of the SageMaker " +
        'built-in factorization-machines algorithm ' +
        '(https://docs.aws.amazon.com/sagemaker/latest/dg/fact-machines-hyperparameters.html); ' +
        'the built-in fails the training job on unknown hyperparameters',
    );
  });

  it('refuses an undocumented k-NN key, and a documented one reelflow sets itself', () => {
    expect(() => parseMlConfig({ knn: { nprobe: 5 } }, 'reelflow.ml')).toThrow(
      /^invalid config reelflow\.ml\.knn\.nprobe: 'nprobe' is not a documented hyperparameter of the SageMaker built-in knn algorithm \(https:\/\/docs\.aws\.amazon\.com\/sagemaker\/latest\/dg\/kNN_hyperparameters\.html\)/,
    );
    expect(() => parseMlConfig({ fm: { feature_dim: 10 } })).toThrow(
      /ml\.fm\.feature_dim: 'feature_dim' is a documented hyperparameter .* but not a reelflow setting: reelflow sets it from the data/,
    );
    expect(() => parseMlConfig({ knn: { dimension_reduction_type: 'sign' } })).toThrow(/exact search/);
  });

  it('accepts the documented optional ones and leaves unset ones out of the request', () => {
    const { fm, knn } = parseMlConfig({
      fm: {
        clip_gradient: 5,
        eps: 1e-8,
        rescale_grad: 0.001,
        factors_init_method: 'uniform',
        factors_init_scale: 0.1,
      },
      knn: { mini_batch_size: 2000 },
    });
    const strings = toHyperparameterStrings({ ...fm, feature_dim: 10 });
    expect(strings).toMatchObject({ clip_gradient: '5', eps: '1e-8', factors_init_method: 'uniform' });
    expect(strings).not.toHaveProperty('bias_init_method');
    expect(toHyperparameterStrings({ ...knn })).toMatchObject({ mini_batch_size: '2000' });
    expect(parseMlConfig({}).knn).not.toHaveProperty('mini_batch_size');
    expect(() => parseMlConfig({ fm: { factors_init_method: 'xavier' } })).toThrow(
      /ml\.fm\.factors_init_method/,
    );
  });
});
