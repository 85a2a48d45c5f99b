import type { ServedRecommendation } from '../../../functions/contracts';
import {
  parseUserRequest,
  postprocess,
  preprocess,
  ServingRequestError,
} from '../../../functions/core/serving/prepost';
import { smallVersion } from './fixtures';

function serve(body: string, contentType = 'application/json', topN = 3): ServedRecommendation[] {
  const { bundle, knn } = smallVersion(topN);
  const pre = preprocess(bundle, body, contentType);
  const post = postprocess(bundle, knn(pre.body, pre.contentType), 'application/json; verbose=true');
  expect(post.contentType).toBe('application/jsonlines');
  return post.body
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as ServedRecommendation);
}

describe('pre -> built-in k-NN -> post', () => {
  it('answers a known user best first without the movies the user rated in training', () => {
    // user 3 ranks 10 > 20 > 30 > ...; 20 was rated in training
    expect(serve('{"user_id":3}')).toEqual([{ user_id: 3, movies: [10, 30, 40], modelVersion: 'run-7' }]);
    // user 7 ranks 60 first but rated 60 and 50
    expect(serve('{"user_id":7}')[0].movies).toEqual([40, 30, 20]);
  });

  it('backfills from the popular movies when the neighbours run out', () => {
    // user 42 rated every movie but 60: one neighbour left, nothing to backfill with
    expect(serve('{"user_id":42}')[0].movies).toEqual([60]);
  });

  it('answers a user the version does not know with its popular movies', () => {
    expect(serve('{"user_id":99}')).toEqual([
      { user_id: 99, movies: [30, 10, 20], modelVersion: 'run-7', fallback: 'popular' },
    ]);
  });

  it('serves many users per request in order (batch transform lines), in every input shape', () => {
    const lines = serve('{"user_id":7}\n{"user_id":3}\n\n{"user_id":99}\n', 'application/jsonlines');
    expect(lines.map((l) => l.user_id)).toEqual([7, 3, 99]);
    expect(serve('{"instances":[{"user_id":3},{"user_id":"7"}]}').map((l) => l.user_id)).toEqual([3, 7]);
    expect(serve('3\n7\n', 'text/csv').map((l) => l.user_id)).toEqual([3, 7]);
  });

  it('rejects bad requests with a ServingRequestError', () => {
    expect(() => parseUserRequest('{"user_id":"x"}', 'application/json')).toThrow(
      /user_id must be an integer from 0 to 16777214, got "x"/,
    );
    expect(() => parseUserRequest('{"user_id":-1}', 'application/json')).toThrow(ServingRequestError);
    expect(() => parseUserRequest('{"user_id":1.5}', 'application/json')).toThrow(ServingRequestError);
    expect(() => parseUserRequest('{"id":1}', 'application/json')).toThrow(/needs a "user_id"/);
    expect(() => parseUserRequest('{', 'application/json')).toThrow(/not valid JSON/);
    expect(() => parseUserRequest('', 'application/jsonlines')).toThrow(/holds no user/);
    expect(() => parseUserRequest('{"user_id":1}', 'image/png')).toThrow(/unsupported content type/);
  });

  it("reads k-NN's verbose JSON whatever Content-Type header reaches post", () => {
    // Which header SageMaker hands the next container of a pipeline is not documented; the body is.
    const { bundle, knn } = smallVersion(3);
    const answer = knn(preprocess(bundle, '{"user_id":3}', 'application/json').body, 'application/json');
    expect(JSON.parse(answer).predictions[0]).toEqual(
      expect.objectContaining({
        predicted_label: expect.any(Number),
        distances: expect.any(Array),
        labels: expect.any(Array),
      }),
    );
    for (const header of [
      'application/json; verbose=true',
      'application/json',
      'application/jsonlines',
      '',
    ]) {
      expect(JSON.parse(postprocess(bundle, answer, header).body)).toEqual({
        user_id: 3,
        movies: [10, 30, 40],
        modelVersion: 'run-7',
      });
    }
  });

  it('rejects k-NN answers it cannot trust', () => {
    const { bundle, knn } = smallVersion();
    const pre = preprocess(bundle, '{"user_id":3}', 'application/json');
    const answer = JSON.parse(knn(pre.body, pre.contentType)) as { predictions: unknown[] };
    const firstOnly = JSON.stringify({ predictions: answer.predictions.slice(0, 1) });
    expect(() => postprocess(bundle, firstOnly, 'application/json')).toThrow(/two per user/);
    expect(() =>
      postprocess(
        bundle,
        '{"predictions":[{"predicted_label":1},{"predicted_label":1}]}',
        'application/json',
      ),
    ).toThrow(/not verbose: the k-NN container needs Accept application\/json; verbose=true/);
    const noTags = JSON.stringify({
      predictions: [0, 1].map(() => ({ predicted_label: 10, distances: [1], labels: [10] })),
    });
    expect(() => postprocess(bundle, noTags, 'application/json')).toThrow(/sets no tag bit/);
    expect(() => postprocess(bundle, 'nope', 'application/json')).toThrow(ServingRequestError);
  });
});
