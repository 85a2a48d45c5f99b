import fc from 'fast-check';
import {
  appendTagRows,
  decodeUserCode,
  isTagLabel,
  MAX_TAGGED_USER_ID,
  TAG_BITS,
  TAG_LABEL_BASE,
  userCode,
  UserTagError,
  writeUserQueries,
} from '../../../functions/core/serving/user-tags';

/** Exact inner-product top-k, best first: an independent reference for the k-NN step. */
function topK(vectors: Float32Array, labels: Float32Array, dim: number, query: Float32Array, k: number) {
  const scored = Array.from(labels, (label, i) => {
    let s = 0;
    for (let d = 0; d < dim; d++) s += vectors[i * dim + d] * query[d];
    return { label, s };
  });
  scored.sort((a, b) => b.s - a.s || a.label - b.label);
  return scored.slice(0, k);
}

describe('user tags', () => {
  const dim = 3;
  const movieVectors = Float32Array.from([1, 0, 0.5, 0, 1, -2, -3, -4, 0.1, 0.2, 0.2, 0.2]);
  const movieLabels = Float32Array.from([10, 20, 30, 40]);
  const index = appendTagRows(movieVectors, movieLabels, dim, TAG_BITS);

  it('appends one unit row per bit, labelled above any movie id', () => {
    expect(index.dim).toBe(dim + TAG_BITS);
    expect(index.labels.length).toBe(4 + TAG_BITS);
    expect(Array.from(index.labels.slice(4, 6))).toEqual([TAG_LABEL_BASE, TAG_LABEL_BASE + 1]);
    expect(index.vectors[4 * index.dim + dim]).toBe(1);
    expect(index.vectors[5 * index.dim + dim + 1]).toBe(1);
    expect(Math.fround(TAG_LABEL_BASE + TAG_BITS - 1)).toBe(TAG_LABEL_BASE + TAG_BITS - 1);
    expect(isTagLabel(30)).toBe(false);
    expect(isTagLabel(TAG_LABEL_BASE + 3)).toBe(true);
  });

  it('carries every user id through an exact inner-product k-NN and keeps movie ranking intact', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_TAGGED_USER_ID }), (userId) => {
        // GIVEN the two queries of a user with vector [1, 1, 1]
        const queries = new Float32Array(2 * index.dim);
        writeUserQueries(queries, 0, Float32Array.from([1, 1, 1]), dim, TAG_BITS, userCode(userId));
        // WHEN both go through the k-NN (k = 100 > 24 tag bits)
        const main = topK(index.vectors, index.labels, index.dim, queries.subarray(0, index.dim), 100);
        const tag = topK(index.vectors, index.labels, index.dim, queries.subarray(index.dim), 100);
        // THEN the movies rank as without tags, tag rows come last, and the tag query decodes the id
        expect(main.slice(0, 4).map((n) => n.label)).toEqual([10, 40, 20, 30]);
        expect(main.slice(4).every((n) => isTagLabel(n.label))).toBe(true);
        const code = decodeUserCode(
          tag.map((n) => n.label),
          tag.map((n) => n.s),
          TAG_BITS,
        );
        expect(code - 1).toBe(userId);
      }),
    );
  });

  it('rejects ids the tags cannot carry and answers without any tag bit', () => {
    expect(() => userCode(-1)).toThrow(UserTagError);
    expect(() => userCode(MAX_TAGGED_USER_ID + 1)).toThrow(/user_id must be an integer from 0 to 16777214/);
    expect(() => userCode(1.5)).toThrow(UserTagError);
    expect(() => decodeUserCode([10, 20], [0.9, 0.8], TAG_BITS)).toThrow(/sets no tag bit/);
    expect(() => decodeUserCode([TAG_LABEL_BASE + 30], [1], TAG_BITS)).toThrow(UserTagError);
  });

  it('rejects movie vectors of the wrong size', () => {
    expect(() => appendTagRows(new Float32Array(5), movieLabels, dim, TAG_BITS)).toThrow(UserTagError);
  });
});
