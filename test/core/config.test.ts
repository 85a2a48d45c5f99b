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

  it('throws on an unknown hyperparameter, as the built-in does', () => {
    expect(() => fmHyperparametersFromStrings({ feature_dim: '10', bogus: '1' })).toThrow(
      /unknown hyperparameter\(s\) bogus/,
    );
  });

  it('throws on a missing or bad feature_dim', () => {
    expect(() => fmHyperparametersFromStrings({})).toThrow(/feature_dim/);
    expect(() => knnHyperparametersFromStrings({ feature_dim: '6.5' })).toThrow(/feature_dim/);
  });

  it('throws on a value of the wrong type', () => {
    expect(() => fmHyperparametersFromStrings({ feature_dim: '10', epochs: 'many' })).toThrow(
      /HyperParameters\.epochs/,
    );
  });
});
