import { ConfigError, parseMlConfig } from '../../functions/core/config';
import {
  ialsHyperparametersFromStrings,
  ialsHyperparameterStrings,
  parseIalsHyperparameters,
  type IalsHyperparameters,
} from '../../functions/core/ials/config';
import {
  decodeIalsModel,
  encodeIalsModel,
  IalsModelFileError,
  readIalsModelArtifact,
  IALS_MODEL_FILE,
} from '../../functions/core/ials/model-file';
import {
  ialsAsFmModel,
  ialsScoringVectors,
  IalsModelError,
  interactionsFromRows,
  trainIalsModel,
  type IalsModel,
} from '../../functions/core/ials/model';
import {
  choleskySolveInPlace,
  IalsInputError,
  trainIals,
  type IalsInteractions,
} from '../../functions/core/ials/train';
import { writeTarGz } from '../../functions/core/archive';
import { Rng } from '../../functions/core/random';
import type { SplitRows } from '../../functions/core/split';
import { buildKnnVectors } from '../../functions/core/vectors';

/**
 * A planted structure: users and items each belong to one of `groups` blocks; a user rated a random
 * `density` share of its own block's items and nothing else. Rank `groups`, so a model of that rank must
 * rank every user's own-block items above all others.
 */
function planted(
  users: number,
  items: number,
  groups: number,
  density: number,
  seed: number,
): IalsInteractions {
  const rng = new Rng(seed);
  const user: number[] = [];
  const item: number[] = [];
  for (let u = 0; u < users; u++) {
    for (let i = 0; i < items; i++) {
      if (u % groups === i % groups && rng.next() < density) {
        user.push(u);
        item.push(i);
      }
    }
  }
  return { users, items, user: Uint32Array.from(user), item: Uint32Array.from(item) };
}

function params(overrides: Partial<IalsHyperparameters> = {}): IalsHyperparameters {
  return parseIalsHyperparameters({
    num_factors: 4,
    iterations: 10,
    regularization: 0.1,
    regularization_exponent: 0.5,
    alpha: 4,
    confidence: 'constant',
    recency_half_life: 0,
    ...overrides,
  });
}

function score(
  f: { userFactors: Float32Array; itemFactors: Float32Array; factors: number },
  u: number,
  i: number,
): number {
  let s = 0;
  for (let a = 0; a < f.factors; a++)
    s += f.userFactors[u * f.factors + a] * f.itemFactors[i * f.factors + a];
  return s;
}

describe('trainIals', () => {
  it('recovers a planted block structure: every unrated own-block item outranks every other-block item', () => {
    const data = planted(40, 60, 4, 0.5, 7);
    const { factors, losses } = trainIals(data, params());
    let violations = 0;
    for (let u = 0; u < data.users; u++) {
      let minOwn = Infinity;
      let maxOther = -Infinity;
      for (let i = 0; i < data.items; i++) {
        const s = score(factors, u, i);
        if (u % 4 === i % 4) minOwn = Math.min(minOwn, s);
        else maxOther = Math.max(maxOther, s);
      }
      if (!(minOwn > maxOther)) violations++;
    }
    expect(violations).toBe(0);
    // The objective never increases: each half-iteration minimizes it exactly or by descent steps.
    for (let t = 1; t < losses.length; t++) expect(losses[t]).toBeLessThanOrEqual(losses[t - 1] * (1 + 1e-9));
  });

  it('is deterministic for a seed and changes with the seed', () => {
    const data = planted(30, 50, 3, 0.4, 3);
    const a = trainIals(data, params({ seed: 5 })).factors;
    const b = trainIals(data, params({ seed: 5 })).factors;
    const c = trainIals(data, params({ seed: 6 })).factors;
    expect(Buffer.from(a.userFactors.buffer).equals(Buffer.from(b.userFactors.buffer))).toBe(true);
    expect(Buffer.from(a.itemFactors.buffer).equals(Buffer.from(b.itemFactors.buffer))).toBe(true);
    expect(Buffer.from(a.itemFactors.buffer).equals(Buffer.from(c.itemFactors.buffer))).toBe(false);
  });

  it('gives the exact (Cholesky) solution with enough conjugate-gradient steps', () => {
    const data = planted(25, 35, 3, 0.5, 11);
    const exact = trainIals(data, params({ solver: 'cholesky', iterations: 3, num_factors: 6 })).factors;
    // CG on a K x K system converges in at most K steps (exact arithmetic); 3 * K leaves room for rounding.
    const cg = trainIals(data, params({ solver: 'cg', cg_steps: 18, iterations: 3, num_factors: 6 })).factors;
    let maxDiff = 0;
    let maxAbs = 0;
    for (let t = 0; t < exact.itemFactors.length; t++) {
      maxDiff = Math.max(maxDiff, Math.abs(exact.itemFactors[t] - cg.itemFactors[t]));
      maxAbs = Math.max(maxAbs, Math.abs(exact.itemFactors[t]));
    }
    expect(maxAbs).toBeGreaterThan(0.01);
    expect(maxDiff).toBeLessThan(1e-5 * Math.max(1, maxAbs));
  });

  it('learns an item bias with item_bias, CG agreeing with the exact solve, and scores ⟨U, V⟩ + b', () => {
    const data = planted(25, 35, 3, 0.5, 13);
    const settings = { item_bias: true, iterations: 3, num_factors: 5 };
    const exact = trainIals(data, params({ ...settings, solver: 'cholesky' }));
    const cg = trainIals(data, params({ ...settings, solver: 'cg', cg_steps: 18 }));
    expect(exact.factors.itemBias.some((b) => Math.abs(b) > 1e-3)).toBe(true);
    for (let t = 0; t < exact.factors.itemBias.length; t++) {
      expect(cg.factors.itemBias[t]).toBeCloseTo(exact.factors.itemBias[t], 5);
    }
    for (let t = 1; t < exact.losses.length; t++) {
      expect(exact.losses[t]).toBeLessThanOrEqual(exact.losses[t - 1] * (1 + 1e-9));
    }
    // Without a bias the biases are zeros.
    expect(trainIals(data, params({ num_factors: 5 })).factors.itemBias.every((b) => b === 0)).toBe(true);
  });

  it('weights positives by rating with confidence rating / log-rating', () => {
    // User 0 rated items 0 (5 stars) and 1 (1 star); users 1..n rated both alike, so only the
    // confidence tells the two items apart for user 0.
    const user = [0, 0, 1, 1, 2, 2, 3, 3];
    const item = [0, 1, 0, 1, 0, 1, 0, 1];
    const rating = [5, 1, 3, 3, 3, 3, 3, 3];
    const data: IalsInteractions = {
      users: 4,
      items: 3,
      user: Uint32Array.from(user),
      item: Uint32Array.from(item),
      rating: Float32Array.from(rating),
    };
    for (const confidence of ['rating', 'log-rating'] as const) {
      const f = trainIals(data, params({ confidence, num_factors: 2 })).factors;
      expect(score(f, 0, 0)).toBeGreaterThan(score(f, 0, 1));
    }
    const constant = trainIals(data, params({ confidence: 'constant', num_factors: 2 })).factors;
    expect(Math.abs(score(constant, 0, 0) - score(constant, 0, 1))).toBeLessThan(1e-3);
  });

  it('scales alpha by 0.5^(later ratings of the user / recency_half_life)', () => {
    const base = planted(12, 20, 3, 0.5, 5);
    const rng = new Rng(9);
    // Whole days, so some of a user's ratings tie (a tie is not later).
    const time = Float64Array.from(base.user, () => rng.int(6));
    const halfLife = 2;
    const g = Float32Array.from(base.user, (u, p) => {
      let later = 0;
      for (let q = 0; q < base.user.length; q++) if (base.user[q] === u && time[q] > time[p]) later++;
      return Math.pow(0.5, later / halfLife);
    });
    expect(Math.min(...g)).toBeLessThan(0.3);
    const withRecency = trainIals({ ...base, time }, params({ recency_half_life: halfLife })).factors;
    const byHand = trainIals({ ...base, rating: g }, params({ confidence: 'rating' })).factors;
    for (let t = 0; t < byHand.itemFactors.length; t++) {
      expect(withRecency.itemFactors[t]).toBeCloseTo(byHand.itemFactors[t], 6);
    }
    expect(() => trainIals(base, params({ recency_half_life: 1 }))).toThrow(/needs the rating times/);
  });

  it('keeps one of two identical pairs', () => {
    const once = trainIals(
      { users: 2, items: 2, user: Uint32Array.of(0, 1), item: Uint32Array.of(0, 1) },
      params(),
    );
    const twice = trainIals(
      { users: 2, items: 2, user: Uint32Array.of(0, 1, 0), item: Uint32Array.of(0, 1, 0) },
      params(),
    );
    expect(Array.from(twice.factors.itemFactors)).toEqual(Array.from(once.factors.itemFactors));
  });

  it('throws IalsInputError for an index out of range, mismatched arrays or missing ratings', () => {
    expect(() =>
      trainIals({ users: 1, items: 1, user: Uint32Array.of(0), item: Uint32Array.of(1) }, params()),
    ).toThrow(IalsInputError);
    expect(() =>
      trainIals({ users: 2, items: 2, user: Uint32Array.of(0, 1), item: Uint32Array.of(0) }, params()),
    ).toThrow(/differ in length/);
    expect(() =>
      trainIals(
        { users: 1, items: 1, user: Uint32Array.of(0), item: Uint32Array.of(0) },
        params({ confidence: 'rating' }),
      ),
    ).toThrow(/needs the ratings/);
  });
});

describe('choleskySolveInPlace', () => {
  it('solves a symmetric positive-definite system', () => {
    const a = Float64Array.of(4, 0, 0, 2, 3, 0, 0, 1, 5); // lower triangle of [[4,2,0],[2,3,1],[0,1,5]]
    const b = Float64Array.of(6, 6, 6); // = A [1, 1, 1]
    choleskySolveInPlace(a, 3, b);
    for (const v of b) expect(v).toBeCloseTo(1, 12);
  });

  it('throws on a matrix that is not positive definite', () => {
    expect(() => choleskySolveInPlace(Float64Array.of(1, 0, 2, 1), 2, Float64Array.of(1, 1))).toThrow(
      /positive definite/,
    );
  });
});

describe('iALS hyperparameters', () => {
  it('documents defaults', () => {
    expect(parseIalsHyperparameters({})).toMatchObject({
      solver: 'cg',
      confidence: 'rating',
      recency_half_life: 150,
      seed: 42,
    });
  });

  it('reads the strings SageMaker passes and writes them back', () => {
    const p = ialsHyperparametersFromStrings({
      num_factors: '8',
      alpha: '0.5',
      solver: 'cholesky',
      item_bias: 'true',
    });
    expect(p).toMatchObject({ num_factors: 8, alpha: 0.5, solver: 'cholesky', item_bias: true });
    expect(ialsHyperparametersFromStrings(ialsHyperparameterStrings(p))).toEqual(p);
  });

  it.each([
    [{ alpha: 'lots' }, /HyperParameters\.alpha/],
    [{ num_factors: '0' }, /HyperParameters\.num_factors/],
    [{ num_factors: '2.5' }, /HyperParameters\.num_factors/],
    [{ cg_steps: '' }, /HyperParameters\.cg_steps/],
    [{ solver: 'lu' }, /HyperParameters\.solver/],
    [{ item_bias: 'yes' }, /HyperParameters\.item_bias/],
    [{ confidence: '1' }, /HyperParameters\.confidence/],
    [{ regularization: '-1' }, /HyperParameters\.regularization/],
    [{ learning_rate: '0.1' }, /'learning_rate'.*known: num_factors/],
  ])('fails with a message naming the key for %j', (strings, message) => {
    expect(() => ialsHyperparametersFromStrings(strings)).toThrow(ConfigError);
    expect(() => ialsHyperparametersFromStrings(strings)).toThrow(message);
  });
});

function rows(entries: ReadonlyArray<[user: number, movie: number, rating: number]>): SplitRows {
  return {
    length: entries.length,
    userId: Int32Array.from(entries, (e) => e[0]),
    movieId: Int32Array.from(entries, (e) => e[1]),
    rating: Float32Array.from(entries, (e) => e[2]),
    timestamp: new Float64Array(entries.length),
  };
}

describe('iALS model → k-NN vectors', () => {
  const train = rows([
    [7, 30, 4],
    [3, 10, 5],
    [7, 10, 3],
    [3, 20, 2],
  ]);

  it('maps original ids to ascending dense rows', () => {
    const { interactions, userIds, movieIds } = interactionsFromRows(train);
    expect(Array.from(userIds)).toEqual([3, 7]);
    expect(Array.from(movieIds)).toEqual([10, 20, 30]);
    expect(Array.from(interactions.user)).toEqual([1, 0, 1, 0]);
    expect(Array.from(interactions.item)).toEqual([2, 0, 0, 1]);
  });

  it('gives [U_u, 1] and [V_i, 0] in the run layout, zero rows for ids the model never saw', () => {
    const { model } = trainIalsModel(train, params({ num_factors: 3 }));
    const users = { ids: Int32Array.of(3, 7, 9) };
    const movies = { ids: Int32Array.of(10, 20, 25, 30) };
    const v = ialsScoringVectors(model, users, movies);
    expect(v.dim).toBe(4);
    expect(Array.from(v.itemLabels)).toEqual([10, 20, 25, 30]);
    expect(Array.from(v.userVectors.subarray(4, 8))).toEqual([...model.userFactors.subarray(3, 6), 1]);
    expect(Array.from(v.userVectors.subarray(8, 12))).toEqual([0, 0, 0, 1]);
    expect(Array.from(v.itemVectors.subarray(4, 8))).toEqual([...model.itemFactors.subarray(3, 6), 0]);
    expect(Array.from(v.itemVectors.subarray(8, 12))).toEqual([0, 0, 0, 0]);
    expect(Array.from(v.itemVectors.subarray(12, 16))).toEqual([...model.itemFactors.subarray(6, 9), 0]);
    // The same vectors BuildVectors makes from the FM-shaped model.
    const viaFm = buildKnnVectors(ialsAsFmModel(model, users, movies), users, movies);
    expect(viaFm).toEqual(v);
    // The inner product is the iALS score.
    let dot = 0;
    for (let a = 0; a < 4; a++) dot += v.userVectors[4 + a] * v.itemVectors[a];
    expect(dot).toBeCloseTo(score(model, 1, 0), 6);
  });

  it('puts the item bias where FM puts its linear weight: [V_i, b_i]', () => {
    const { model } = trainIalsModel(train, params({ num_factors: 2, item_bias: true }));
    const movies = { ids: Int32Array.of(10, 20, 30) };
    const v = ialsScoringVectors(model, { ids: Int32Array.of(3, 7) }, movies);
    expect(Array.from(v.itemVectors.subarray(0, 3))).toEqual([
      ...model.itemFactors.subarray(0, 2),
      model.itemBias[0],
    ]);
    expect(model.itemBias[0]).not.toBe(0);
  });

  it('fails when the model knows an id the run does not', () => {
    const { model } = trainIalsModel(train, params({ num_factors: 2 }));
    expect(() =>
      ialsScoringVectors(model, { ids: Int32Array.of(3) }, { ids: Int32Array.of(10, 20, 30) }),
    ).toThrow(IalsModelError);
  });

  it('is served with the FM dimension the config names', () => {
    const config = parseMlConfig({ fm: { num_factors: 3 } });
    const { model } = trainIalsModel(train, params({ num_factors: 3 }));
    expect(
      ialsAsFmModel(model, { ids: Int32Array.of(3, 7) }, { ids: Int32Array.of(10, 20, 30) }).numFactors,
    ).toBe(config.fm.num_factors);
  });
});

describe('ials-model.bin', () => {
  const model: IalsModel = {
    factors: 2,
    userIds: Int32Array.of(1, 5),
    movieIds: Int32Array.of(2, 3, 9),
    userFactors: Float32Array.of(0.5, -1, 2, 3),
    itemFactors: Float32Array.of(1, 2, 3, 4, 5, -6.25),
    itemBias: Float32Array.of(0.5, 0, -0.125),
  };

  it('round-trips, also inside a model.tar.gz', async () => {
    const bytes = encodeIalsModel(model);
    expect(bytes.byteLength).toBe(24 + 4 * (2 + 3 + 4 + 6 + 3));
    expect(decodeIalsModel(bytes)).toEqual(model);
    const tar = await writeTarGz([[IALS_MODEL_FILE, bytes]]);
    expect(await readIalsModelArtifact(tar)).toEqual(model);
  });

  it('rejects other bytes, truncation and a tarball without the model', async () => {
    const bytes = encodeIalsModel(model);
    expect(() => decodeIalsModel(Buffer.from('not a model at all, really'))).toThrow(/RFIALS/);
    expect(() => decodeIalsModel(bytes.subarray(0, bytes.length - 4))).toThrow(IalsModelFileError);
    await expect(readIalsModelArtifact(await writeTarGz([['other.bin', bytes]]))).rejects.toThrow(
      /holds no ials-model\.bin/,
    );
  });
});
