import fc from 'fast-check';
import {
  formatKnnResponse,
  KnnRequestError,
  KnnResponseError,
  orderBestFirst,
  parseKnnRequest,
  parseKnnResponse,
  parseMediaType,
  predictLabel,
} from '../../../functions/core/knn/codec';
import { buildKnnIndex, knnSearch, type KnnSearchResult } from '../../../functions/core/knn/search';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Expects `fn` to throw a KnnRequestError with this status and message. */
function expectRequestError(fn: () => unknown, message: RegExp, status = 400): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(KnnRequestError);
  expect((caught as KnnRequestError).name).toBe('KnnRequestError');
  expect((caught as KnnRequestError).status).toBe(status);
  expect((caught as Error).message).toMatch(message);
}

describe('parseKnnRequest', () => {
  it('reads both JSON instance forms, mixed in one request', () => {
    const body = JSON.stringify({
      instances: [{ data: { features: { values: [-3, -1, -4, 2] } } }, { features: [3.0, 0.1, 0.04, 0.002] }],
    });
    const req = parseKnnRequest(utf8(body), 'application/json');
    expect(req.count).toBe(2);
    expect(req.dim).toBe(4);
    expect(Array.from(req.vectors)).toEqual([-3, -1, -4, 2, 3, 0.1, 0.04, 0.002].map(Math.fround));
  });

  it('reads JSON lines, skipping blank lines and CRLF endings', () => {
    const body = '{"features":[1,2]}\r\n\n{"data":{"features":{"values":[3,4]}}}\n';
    const req = parseKnnRequest(body, 'application/jsonlines');
    expect(req).toEqual({ count: 2, dim: 2, vectors: Float32Array.from([1, 2, 3, 4]) });
  });

  it("reads the workshop's CSV (np.savetxt '%.18e' with a trailing newline)", () => {
    const body = '1.234000000000000000e-02,-5.000000000000000000e-01,1.000000000000000000e+00\n';
    const req = parseKnnRequest(utf8(body), 'text/csv');
    expect(req.count).toBe(1);
    expect(Array.from(req.vectors)).toEqual([0.01234, -0.5, 1].map(Math.fround));
  });

  it('drops label_size leading CSV columns and honours the encoding parameter', () => {
    const req = parseKnnRequest('9,1.5,2\n8,3,4\n', 'text/csv; label_size=1', 2);
    expect(Array.from(req.vectors)).toEqual([1.5, 2, 3, 4]);
    const utf16 = new Uint8Array(Buffer.from('1,2,3', 'utf16le'));
    const decoded = parseKnnRequest(utf16, 'text/csv; charset=x; encoding="utf-16le"');
    expect(Array.from(decoded.vectors)).toEqual([1, 2, 3]);
  });

  it('accepts media types case-insensitively with parameters', () => {
    expect(parseKnnRequest('{"instances":[{"features":[1]}]}', 'Application/JSON; charset=utf-8').dim).toBe(
      1,
    );
  });

  it('rejects bodies the endpoint would refuse, each with a clear 400', () => {
    const json = 'application/json';
    expectRequestError(() => parseKnnRequest('{"instances":[', json), /not valid JSON/);
    expectRequestError(() => parseKnnRequest('[[1,2]]', json), /must be \{"instances":\[\.\.\.\]\}/);
    expectRequestError(() => parseKnnRequest('{"instances":[]}', json), /no instances/);
    expectRequestError(() => parseKnnRequest('', json), /empty/);
    expectRequestError(() => parseKnnRequest(new Uint8Array(0), 'text/csv'), /empty/);
    expectRequestError(() => parseKnnRequest('\n\n', 'application/jsonlines'), /empty/);
    expectRequestError(
      () => parseKnnRequest('{"instances":[{"features":[1,2]},{"features":[1]}]}', json),
      /instance 1 has 1 features, instance 0 has 2/,
    );
    expectRequestError(() => parseKnnRequest('1,2\n3\n', 'text/csv'), /instance 1 has 1 features/);
    expectRequestError(
      () => parseKnnRequest('{"instances":[{"features":[1,"2"]}]}', json),
      /instance 0, feature 1: "2" is not a number/,
    );
    expectRequestError(
      () => parseKnnRequest('{"instances":[{"features":[1e39]}]}', json),
      /not a finite float32/,
    );
    expectRequestError(() => parseKnnRequest('{"instances":[{"values":[1]}]}', json), /must be \{"features"/);
    expectRequestError(() => parseKnnRequest('{"instances":[{"features":{"values":[1]}}]}', json), /array/);
    expectRequestError(() => parseKnnRequest('{"instances":[{"features":[]}]}', json), /no features/);
    expectRequestError(() => parseKnnRequest('1,nan\n', 'text/csv'), /line 1, column 2: 'nan'/);
    expectRequestError(() => parseKnnRequest('1,Infinity\n', 'text/csv'), /not a finite number/);
    expectRequestError(() => parseKnnRequest('1,,3\n', 'text/csv'), /column 2/);
    expectRequestError(() => parseKnnRequest('1\n', 'text/csv; label_size=1'), /1 columns, label_size is 1/);
    expectRequestError(() => parseKnnRequest('1,2\n', 'text/csv; label_size=-1'), /label_size must be/);
    expectRequestError(
      () => parseKnnRequest('{"features":[1,2]}\nnope\n', 'application/jsonlines'),
      /line 2/,
    );
    expectRequestError(() => parseKnnRequest('1,2,3', 'text/csv', 65), /3 features, the index expects 65/);
    expectRequestError(() => parseKnnRequest(Uint8Array.from([0x31, 0xff]), 'text/csv'), /not valid utf-8/);
    expectRequestError(() => parseKnnRequest('1', 'text/csv; encoding=klingon'), /unsupported encoding/);
  });

  it('refuses undocumented content types with a 415, recordIO-protobuf with its own message', () => {
    const undocumented =
      /Content type '.*' is not supported by the knn algorithm; supported: text\/csv, application\/json, application\/jsonlines, application\/x-recordio-protobuf/;
    expectRequestError(() => parseKnnRequest('1,2', 'text/plain'), undocumented, 415);
    expectRequestError(() => parseKnnRequest('1,2', ''), undocumented, 415);
    // Not in the kNN-inference-formats list, though common elsewhere.
    expectRequestError(
      () => parseKnnRequest('{"features":[1]}', 'application/x-jsonlines'),
      undocumented,
      415,
    );
    expectRequestError(
      () => parseKnnRequest(new Uint8Array(4), 'application/x-recordio-protobuf'),
      /application\/x-recordio-protobuf is documented but not implemented/,
      415,
    );
  });
});

/** A best-first search result of 2 queries × 3 neighbours. */
function result(metric: 'INNER_PRODUCT' | 'L2'): KnnSearchResult {
  const ip = metric === 'INNER_PRODUCT';
  return {
    k: 3,
    metric,
    labels: Float32Array.from([5, 7, 5, 1, 2, 3]),
    distances: Float32Array.from(ip ? [9, 4, 1, 3, 3, 2] : [1, 4, 9, 2, 3, 3]),
    rows: Int32Array.from([0, 1, 2, 3, 4, 5]),
  };
}

describe('formatKnnResponse', () => {
  it('answers application/json with predicted_label only', () => {
    const out = formatKnnResponse(result('L2'), 'application/json', 'classifier');
    expect(out.contentType).toBe('application/json');
    expect(JSON.parse(out.body)).toEqual({ predictions: [{ predicted_label: 5 }, { predicted_label: 1 }] });
  });

  it('lists verbose distances ascending, so the best inner-product match comes last', () => {
    const out = formatKnnResponse(result('INNER_PRODUCT'), 'application/json; verbose=true', 'classifier');
    expect(out.contentType).toBe('application/json; verbose=true');
    expect(JSON.parse(out.body)).toEqual({
      predictions: [
        { predicted_label: 5, distances: [1, 4, 9], labels: [5, 7, 5] },
        { predicted_label: 1, distances: [2, 3, 3], labels: [3, 2, 1] },
      ],
    });
  });

  it('keeps L2 verbose output in search order (ascending distance is best first)', () => {
    const out = formatKnnResponse(result('L2'), 'application/json;verbose=TRUE', 'regressor');
    const parsed = JSON.parse(out.body);
    expect(parsed.predictions[0]).toEqual({
      predicted_label: Math.fround(17 / 3),
      distances: [1, 4, 9],
      labels: [5, 7, 5],
    });
  });

  it('answers application/jsonlines with one predicted_label object per line', () => {
    const plain = formatKnnResponse(result('L2'), 'application/jsonlines', 'classifier');
    expect(plain.contentType).toBe('application/jsonlines');
    expect(plain.body).toBe('{"predicted_label":5}\n{"predicted_label":1}\n');
  });

  it('refuses the undocumented application/jsonlines; verbose=true with a 406', () => {
    // kNN-inference-formats documents verbose only for JSON and recordIO-protobuf.
    expectRequestError(
      () => formatKnnResponse(result('INNER_PRODUCT'), 'application/jsonlines; verbose=true', 'classifier'),
      /^Accept type 'application\/jsonlines; verbose=true' is not supported by the knn algorithm; supported: application\/json, application\/json; verbose=true, application\/jsonlines, application\/x-recordio-protobuf, application\/x-recordio-protobuf; verbose=true$/,
      406,
    );
  });

  it('defaults to application/json for */* or no Accept, and picks the first supported alternative', () => {
    expect(formatKnnResponse(result('L2'), '', 'classifier').contentType).toBe('application/json');
    expect(formatKnnResponse(result('L2'), '*/*', 'classifier').contentType).toBe('application/json');
    expect(
      formatKnnResponse(result('L2'), 'text/html, application/jsonlines', 'classifier').contentType,
    ).toBe('application/jsonlines');
  });

  it('refuses Accept types it cannot produce with a 406', () => {
    expectRequestError(
      () => formatKnnResponse(result('L2'), 'text/csv', 'classifier'),
      /Accept type 'text\/csv' is not supported by the knn algorithm/,
      406,
    );
    expectRequestError(
      () => formatKnnResponse(result('L2'), 'application/x-recordio-protobuf; verbose=true', 'classifier'),
      /application\/x-recordio-protobuf; verbose=true is documented but not implemented/,
      406,
    );
  });

  it('renders no predictions for no queries', () => {
    const empty: KnnSearchResult = {
      k: 3,
      metric: 'L2',
      labels: new Float32Array(0),
      distances: new Float32Array(0),
      rows: new Int32Array(0),
    };
    expect(formatKnnResponse(empty, 'application/json', 'classifier').body).toBe('{"predictions":[]}');
  });
});

describe('parseKnnResponse and orderBestFirst', () => {
  it('round-trips every Accept shape back to best-first neighbours (property)', () => {
    fc.assert(
      fc.property(
        fc.record({
          count: fc.integer({ min: 1, max: 30 }),
          nQueries: fc.integer({ min: 1, max: 5 }),
          k: fc.integer({ min: 1, max: 40 }),
          metric: fc.constantFrom('INNER_PRODUCT' as const, 'L2' as const),
          accept: fc.constant('application/json; verbose=true'),
          values: fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 200, maxLength: 200 }),
        }),
        ({ count, nQueries, k, metric, accept, values }) => {
          // GIVEN a search over small integer vectors (many tied distances)
          const dim = 2;
          const at = (i: number): number => values[i % values.length];
          const vectors = Float32Array.from({ length: count * dim }, (_, i) => at(i));
          const queries = Float32Array.from({ length: nQueries * dim }, (_, i) => at(i + 101));
          const labels = Float32Array.from({ length: count }, (_, i) => 100 + i);
          const searched = knnSearch(buildKnnIndex(vectors, labels, dim, metric), queries, nQueries, k);
          // WHEN formatted as the endpoint would and read back
          const { body, contentType } = formatKnnResponse(searched, accept, 'classifier');
          const predictions = parseKnnResponse(utf8(body), contentType);
          // THEN orderBestFirst restores the search order exactly, ties included
          expect(predictions).toHaveLength(nQueries);
          predictions.forEach((p, q) => {
            const best = orderBestFirst(p, metric);
            const slice = (a: Float32Array): number[] =>
              Array.from(a.subarray(q * searched.k, (q + 1) * searched.k));
            expect(best.labels).toEqual(slice(searched.labels));
            expect(best.distances).toEqual(slice(searched.distances));
            for (let i = 1; i < p.distances!.length; i++) {
              expect(p.distances![i]).toBeGreaterThanOrEqual(p.distances![i - 1]);
            }
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it("reads the workshop's response and puts its best match (the last entry) first", () => {
    const body =
      '{"distances": [2.9647, 2.9673, 5.5295, 6.0343], "labels": [527.0, 732.0, 50.0, 64.0], "predicted_label": 1.0}';
    const [p] = parseKnnResponse(body, 'application/jsonlines; verbose=true');
    expect(p.predicted_label).toBe(1);
    expect(orderBestFirst(p, 'INNER_PRODUCT')).toEqual({
      labels: [64, 50, 732, 527],
      distances: [6.0343, 5.5295, 2.9673, 2.9647],
    });
    expect(orderBestFirst(p, 'L2').labels).toEqual([527, 732, 50, 64]);
  });

  it('reads non-verbose predictions, which orderBestFirst refuses', () => {
    const preds = parseKnnResponse(
      '{"predictions":[{"predicted_label":0.0},{"predicted_label":2.0}]}',
      'application/json',
    );
    expect(preds).toEqual([{ predicted_label: 0 }, { predicted_label: 2 }]);
    expect(() => orderBestFirst(preds[0], 'INNER_PRODUCT')).toThrow(KnnResponseError);
    expect(() => orderBestFirst(preds[0], 'INNER_PRODUCT')).toThrow(/verbose/);
  });

  it('rejects bodies that are not a k-NN response', () => {
    const json = 'application/json';
    expect(() => parseKnnResponse('nope', json)).toThrow(/not JSON/);
    expect(() => parseKnnResponse('{"result":[]}', json)).toThrow(/no "predictions" array/);
    expect(() => parseKnnResponse('{"predictions":[{"label":1}]}', json)).toThrow(/predicted_label/);
    expect(() => parseKnnResponse('{"predictions":[{"predicted_label":1,"labels":[1]}]}', json)).toThrow(
      /distances must be an array/,
    );
    expect(() =>
      parseKnnResponse('{"predictions":[{"predicted_label":1,"labels":[1,2],"distances":[1]}]}', json),
    ).toThrow(/2 labels but 1 distances/);
    expect(() => parseKnnResponse('{"predicted_label":1}\n{', 'application/jsonlines')).toThrow(/line 2/);
    expect(() => parseKnnResponse('1', 'text/csv')).toThrow(/unsupported response content type/);
    expect(() => parseKnnResponse(Uint8Array.from([0xff]), json)).toThrow(KnnResponseError);
  });
});

describe('predictLabel', () => {
  it('takes the majority label, ties to the smallest label', () => {
    expect(predictLabel([3, 1, 3, 2], 'classifier')).toBe(3);
    expect(predictLabel([5, 2, 2, 5, 9], 'classifier')).toBe(2);
    expect(predictLabel([7], 'classifier')).toBe(7);
  });

  it('averages labels for a regressor (as float32)', () => {
    expect(predictLabel([1, 2, 4], 'regressor')).toBe(Math.fround(7 / 3));
  });
});

describe('parseMediaType', () => {
  it('splits type and parameters, unquoting values', () => {
    const m = parseMediaType(' Text/CSV ; Label_Size = 2 ; encoding="latin1"');
    expect(m.type).toBe('text/csv');
    expect(Object.fromEntries(m.params)).toEqual({ label_size: '2', encoding: 'latin1' });
  });
});
