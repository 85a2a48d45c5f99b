import {
  countMovies,
  popularityRanking,
  popularityRecommendations,
  randomRecommendations,
  RecommendationInputError,
  recommendFromVectors,
  type ScoringVectors,
} from '../../../functions/core/evaluate/recommend';
import { Rng } from '../../../functions/core/random';

/** Reference: full score array, full sort, filter seen, first n. */
function naive(v: ScoringVectors, users: number[], seen: (u: number) => ArrayLike<number>, n: number) {
  const out = new Map<number, number[]>();
  for (const userId of users) {
    const row = Array.from(v.userIds).indexOf(userId);
    if (row < 0) continue;
    const excluded = new Set(Array.from(seen(userId)));
    const scored: Array<{ id: number; s: number }> = [];
    for (let j = 0; j < v.itemLabels.length; j++) {
      let s = 0;
      for (let d = 0; d < v.dim; d++) s += v.userVectors[row * v.dim + d] * v.itemVectors[j * v.dim + d];
      if (!excluded.has(v.itemLabels[j])) scored.push({ id: v.itemLabels[j], s });
    }
    scored.sort((a, b) => b.s - a.s || a.id - b.id);
    out.set(
      userId,
      scored.slice(0, n).map((x) => x.id),
    );
  }
  return out;
}

function randomVectors(rng: Rng, nUsers: number, nItems: number, dim: number): ScoringVectors {
  const userIds = new Int32Array(nUsers).map((_, i) => 1 + i * 3);
  const itemLabels = new Float32Array(nItems).map((_, j) => 1000 + ((j * 7919) % (nItems * 5)));
  return {
    userIds,
    userVectors: new Float32Array(nUsers * dim).map(() => rng.normal()),
    itemLabels,
    itemVectors: new Float32Array(nItems * dim).map(() => rng.normal()),
    dim,
  };
}

describe('recommendFromVectors', () => {
  it('equals a naive full-sort implementation when given random vectors and seen sets', () => {
    const rng = new Rng(7);
    const v = randomVectors(rng, 23, 301, 9);
    const seenSets = new Map<number, number[]>();
    for (const id of v.userIds) {
      seenSets.set(
        id,
        Array.from({ length: rng.int(40) }, () => v.itemLabels[rng.int(301)]),
      );
    }
    const seen = (u: number): number[] => seenSets.get(u) ?? [];
    const users = [...Array.from(v.userIds), 999_999];
    for (const n of [1, 10, 25]) {
      const fast = recommendFromVectors(v, users, seen, n);
      expect(fast).toEqual(naive(v, users, seen, n));
      expect(fast.size).toBe(23);
    }
  });

  it('omits users without a vector when asked for them', () => {
    const v = randomVectors(new Rng(1), 2, 10, 3);
    const result = recommendFromVectors(v, [1, 2, 4, 5], () => [], 3);
    expect([...result.keys()]).toEqual([1, 4]);
  });

  it('breaks score ties by the smaller movie id', () => {
    const v: ScoringVectors = {
      userIds: Int32Array.of(5),
      userVectors: Float32Array.of(1, 0),
      itemLabels: Float32Array.of(40, 30, 20, 10, 50),
      itemVectors: Float32Array.of(1, 0, 2, 0, 1, 5, 2, 9, 0.5, 0),
      dim: 2,
    };
    expect(recommendFromVectors(v, [5], () => [], 4).get(5)).toEqual([10, 30, 20, 40]);
  });

  it('returns fewer than n movies when the unseen catalog is smaller than n', () => {
    const v = randomVectors(new Rng(2), 1, 6, 4);
    const seen = [v.itemLabels[0], v.itemLabels[3], 123456];
    const list = recommendFromVectors(v, [1], () => seen, 10).get(1)!;
    expect(list).toHaveLength(4);
    expect(list).not.toContain(v.itemLabels[0]);
    expect(list).not.toContain(v.itemLabels[3]);
  });

  it('throws when the vector lengths do not match dim', () => {
    const v = randomVectors(new Rng(3), 2, 5, 4);
    expect(() => recommendFromVectors({ ...v, dim: 3 }, [1], () => [], 5)).toThrow(RecommendationInputError);
    expect(() => recommendFromVectors(v, [1], () => [], 0)).toThrow(/n must be a positive integer, got 0/);
  });

  it('throws when a movie id appears twice in the item labels', () => {
    const v = randomVectors(new Rng(4), 1, 3, 2);
    const labels = Float32Array.of(7, 8, 7);
    expect(() => recommendFromVectors({ ...v, itemLabels: labels }, [1], () => [], 2)).toThrow(
      /movie id 7 appears twice/,
    );
  });
});

describe('popularityRecommendations', () => {
  it('recommends the most-rated unseen movies when given training counts', () => {
    const counts = countMovies([3, 1, 3, 2, 3, 2, 9]);
    expect(Array.from(popularityRanking(counts))).toEqual([3, 2, 1, 9]);
    const lists = popularityRecommendations(counts, [10, 11], (u) => (u === 10 ? [3] : []), 2);
    expect(lists.get(10)).toEqual([2, 1]);
    expect(lists.get(11)).toEqual([3, 2]);
  });

  it('accepts [movieId, count] pairs when given an array', () => {
    const lists = popularityRecommendations(
      [
        [5, 1],
        [6, 4],
        [4, 4],
      ],
      [1],
      () => [],
      3,
    );
    expect(lists.get(1)).toEqual([4, 6, 5]);
  });
});

describe('randomRecommendations', () => {
  it('draws n distinct unseen catalog movies, repeatably by seed', () => {
    const catalog = Int32Array.from({ length: 50 }, (_, i) => i + 1);
    const seen = (u: number): number[] => (u === 1 ? [1, 2, 3, 4, 5] : []);
    const a = randomRecommendations(catalog, [1, 2], seen, 20, new Rng(9));
    const b = randomRecommendations(catalog, [1, 2], seen, 20, new Rng(9));
    const c = randomRecommendations(catalog, [1, 2], seen, 20, new Rng(10));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    for (const list of a.values()) {
      expect(list).toHaveLength(20);
      expect(new Set(list).size).toBe(20);
      for (const id of list) expect(id >= 1 && id <= 50).toBe(true);
    }
    expect(a.get(1)!.some((id) => id <= 5)).toBe(false);
  });

  it('returns every unseen movie when the catalog is smaller than n', () => {
    const lists = randomRecommendations(Int32Array.of(1, 2, 3), [1], () => [2], 10, new Rng(1));
    expect([...lists.get(1)!].sort()).toEqual([1, 3]);
  });
});
