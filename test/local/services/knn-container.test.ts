/**
 * The local built-in k-NN container accepts only its documented request content types and answers only
 * its documented Accept types (kNN-inference-formats), and a model version's serial pipeline
 * (pre -> k-NN -> post) serves with the documented verbose JSON between k-NN and post.
 */
import { SERVING_CONTENT_TYPES } from '../../../functions/contracts';
import { writeKnnModelTarGz } from '../../../functions/core/knn';
import { writeServingBundle } from '../../../functions/core/serving/bundle';
import { loadModel, type LoadedModel } from '../../../local/services/model-containers';
import { smallVersion } from '../../core/serving/fixtures';

const KNN_IMAGE = '382416733822.dkr.ecr.us-east-1.amazonaws.com/knn:1';

async function version(
  knnAccept: string,
): Promise<{ pipeline: LoadedModel; knnOnly: LoadedModel; dim: number }> {
  const { bundle, index } = smallVersion(3);
  const objects: Record<string, Uint8Array> = {
    bundle: await writeServingBundle(bundle),
    knn: await writeKnnModelTarGz(index, { k: 100, predictor_type: 'classifier' }),
  };
  const read = async (_bucket: string, key: string) => objects[key];
  const knn = { ContainerHostname: 'knn', Image: KNN_IMAGE, ModelDataUrl: 's3://bucket-1/knn' };
  const pipeline = await loadModel(
    {
      ModelName: 'm',
      Containers: [
        {
          ContainerHostname: 'pre',
          Image: 'serving',
          ModelDataUrl: 's3://bucket-1/bundle',
          Environment: { REELFLOW_ROLE: 'pre' },
        },
        { ...knn, Environment: { SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT: knnAccept } },
        {
          ContainerHostname: 'post',
          Image: 'serving',
          ModelDataUrl: 's3://bucket-1/bundle',
          Environment: { REELFLOW_ROLE: 'post' },
        },
      ],
    },
    read,
  );
  const knnOnly = await loadModel({ ModelName: 'k', PrimaryContainer: knn }, read);
  return { pipeline, knnOnly, dim: index.dim };
}

describe('the local built-in k-NN container', () => {
  const query = (dim: number) => JSON.stringify({ instances: [{ features: new Array(dim).fill(0) }] });

  it('answers the documented verbose JSON', async () => {
    const { knnOnly, dim } = await version(SERVING_CONTENT_TYPES.accept);
    const out = knnOnly.invoke({
      body: query(dim),
      contentType: 'application/json',
      accept: 'application/json; verbose=true',
    });
    expect(out.status).toBe(200);
    expect(out.contentType).toBe('application/json; verbose=true');
    expect(JSON.parse(out.body).predictions[0]).toEqual(
      expect.objectContaining({
        predicted_label: expect.any(Number),
        distances: expect.any(Array),
        labels: expect.any(Array),
      }),
    );
  });

  it('refuses the undocumented application/jsonlines; verbose=true with 406, and undocumented request types with 415', async () => {
    const { knnOnly, dim } = await version(SERVING_CONTENT_TYPES.accept);
    const jsonlinesVerbose = knnOnly.invoke({
      body: query(dim),
      contentType: 'application/json',
      accept: 'application/jsonlines; verbose=true',
    });
    expect(jsonlinesVerbose.status).toBe(406);
    expect(JSON.parse(jsonlinesVerbose.body).message).toMatch(
      /^Accept type 'application\/jsonlines; verbose=true' is not supported by the knn algorithm/,
    );
    const xJsonlines = knnOnly.invoke({
      body: '{"features":[1]}',
      contentType: 'application/x-jsonlines',
      accept: 'application/json',
    });
    expect(xJsonlines.status).toBe(415);
  });
});

describe('a model version pipeline: pre -> k-NN -> post', () => {
  it('serves with k-NN asked for application/json; verbose=true (single user and a batch transform line)', async () => {
    expect(SERVING_CONTENT_TYPES.accept).toBe('application/json; verbose=true');
    const { pipeline } = await version(SERVING_CONTENT_TYPES.accept);
    const one = pipeline.invoke({
      body: '{"user_id":3}',
      contentType: 'application/json',
      accept: SERVING_CONTENT_TYPES.accept,
    });
    expect(one.status).toBe(200);
    expect(JSON.parse(one.body)).toEqual({ user_id: 3, movies: [10, 30, 40], modelVersion: 'run-7' });
    // What the batch transform sends: SingleRecord, one {"instances":[...]} JSON per line.
    const line = pipeline.invoke({
      body: '{"instances":[{"user_id":3},{"user_id":7},{"user_id":99}]}',
      contentType: SERVING_CONTENT_TYPES.batchRequest,
      accept: SERVING_CONTENT_TYPES.accept,
    });
    expect(line.status).toBe(200);
    expect(
      line.body
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).user_id),
    ).toEqual([3, 7, 99]);
  });

  it('fails, naming the k-NN container, when k-NN is configured with the undocumented jsonlines verbose Accept', async () => {
    const { pipeline } = await version('application/jsonlines; verbose=true');
    const out = pipeline.invoke({ body: '{"user_id":3}', contentType: 'application/json' });
    expect(out).toMatchObject({ status: 406, container: 'knn' });
  });
});
