import {
  countMovies,
  popularityRanking,
  popularityRecommendations,
  randomRecommendations,
  RecommendationInputError,
} from '../../../functions/core/evaluate/recommend';
import { Rng } from '../../../functions/core/random';

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

  it('rejects a list length that is not a positive integer', () => {
    expect(() => popularityRecommendations(new Map([[1, 1]]), [1], () => [], 0)).toThrow(
      RecommendationInputError,
    );
    expect(() => randomRecommendations(Int32Array.of(1), [1], () => [], 1.5, new Rng(1))).toThrow(
      /n must be a positive integer, got 1.5/,
    );
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
