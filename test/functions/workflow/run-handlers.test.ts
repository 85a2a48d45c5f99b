import '../quiet-powertools';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PrepareResult, ServedRecommendation } from '../../../functions/contracts';
import { getObjectBytes, getPrefixTexts } from '../../../functions/common/s3-io';
import { parseMlConfig } from '../../../functions/core/config';
import { writeFmModelTarGz } from '../../../functions/core/fm/artifact';
import { fmExamplesFromRecordIO } from '../../../functions/core/fm/encode';
import { trainFm } from '../../../functions/core/fm/train';
import { buildKnnIndex } from '../../../functions/core/knn';
import { DataRejectedError } from '../../../functions/core/ingest';
import { readRecordIO } from '../../../functions/core/recordio';
import { attemptOf, encodeTriggerKey } from '../../../functions/core/run-layout';
import { readServingBundle } from '../../../functions/core/serving/bundle';
import { serveUsers } from '../../../functions/core/serving/pipeline';
import { buildVectors } from '../../../functions/workflow/build-vectors';
import { evaluate } from '../../../functions/workflow/evaluate';
import { prepare } from '../../../functions/workflow/prepare';
import { LocalS3 } from '../../../local/services/s3';

const BUCKET = 'reelflow-data';
const SAMPLE = join(__dirname, '..', '..', '..', 'local', 'sample', 'ratings.csv');
const config = parseMlConfig({ fm: { epochs: 8, factors_lr: 0.01, factors_wd: 0.0001 } });

describe('workflow handlers against a local S3 on loopback', () => {
  const server = new LocalS3({
    directory: mkdtempSync(join(tmpdir(), 's3-')),
    buckets: [BUCKET],
    reset: true,
  });
  let s3: S3Client;
  const deps = () => ({ s3, bucket: BUCKET });

  beforeAll(async () => {
    await server.start();
    s3 = server.client();
    const sample = readFileSync(SAMPLE);
    // Two uploads: the union of batches is the data set.
    const [head, ...rows] = sample.toString('utf8').trimEnd().split('\n');
    const half = Math.floor(rows.length / 2);
    await put(s3, 'ratings/2026-01-01-a.csv', [head, ...rows.slice(0, half)].join('\n') + '\n');
    await put(s3, 'ratings/2026-01-02-b.csv', [head, ...rows.slice(half)].join('\n') + '\n');
  });
  afterAll(() => server.stop());

  it('runs prepare -> (FM job) -> build vectors -> (transform) -> evaluate on S3', async () => {
    // Prepare
    const prepared = (await prepare(
      {
        runId: 'run-1',
        executionName: 'retrain-attempt-1',
        trigger: { key: 'ratings/2026-01-02-b.csv', versionId: 'v2' },
        config,
        resourcePrefix: 'reelflow',
      },
      { ...deps(), ratingsPrefix: 'ratings/' },
    )) as PrepareResult;
    expect(prepared.names.fmJob).toBe(`reelflow-fm-run-1-${attemptOf('retrain-attempt-1')}`);
    expect(prepared.uris.train).toBe(`s3://${BUCKET}/runs/run-1/prepared/train/`);
    expect(prepared.counts.ratings).toBe(29_916);
    const run = JSON.parse(await text(s3, 'runs/run-1/run.json'));
    expect(run.inputs.map((i: { key: string }) => i.key)).toEqual([
      'ratings/2026-01-01-a.csv',
      'ratings/2026-01-02-b.csv',
    ]);
    expect(run.trigger).toEqual({ key: 'ratings/2026-01-02-b.csv', versionId: 'v2' });

    // What the FM training job does: read the train channel, write model.tar.gz
    const shards = await keys(s3, 'runs/run-1/prepared/train/');
    const train = fmExamplesFromRecordIO(await Promise.all(shards.map((k) => getObjectBytes(s3, BUCKET, k))));
    const { model } = trainFm(
      train,
      { ...config.fm, feature_dim: Number(prepared.hyperparameters.fm.feature_dim) },
      { seed: 1 },
    );
    await put(s3, 'runs/run-1/fm/reelflow-fm-run-1/output/model.tar.gz', await writeFmModelTarGz(model));

    // BuildVectors
    const vectors = await buildVectors(
      {
        runId: 'run-1',
        prepared,
        fm: { artifact: `s3://${BUCKET}/runs/run-1/fm/reelflow-fm-run-1/output/model.tar.gz` },
      },
      deps(),
    );
    expect(vectors).toMatchObject({ dim: 64 + 1 + 24, tagBits: 24, knnTrain: prepared.uris.knnTrain });
    expect(String(vectors.dim)).toBe(prepared.hyperparameters.knn.feature_dim);
    const knnShards = await keys(s3, 'runs/run-1/vectors/knn-train/');
    const rows = (await Promise.all(knnShards.map((k) => getObjectBytes(s3, BUCKET, k)))).flatMap((b) =>
      readRecordIO(b),
    );
    expect(rows).toHaveLength(vectors.movies + 24);

    // What the transform job does: the serving pipeline over transform-input/users.jsonl
    const bundle = await readServingBundle(
      await getObjectBytes(s3, BUCKET, 'runs/run-1/vectors/serving-bundle.tar.gz'),
    );
    const index = buildKnnIndex(
      Float32Array.from(rows.flatMap((r) => Array.from(r.features.values.values))),
      Float32Array.from(rows.map((r) => r.label!.values.values[0])),
      vectors.dim,
      'INNER_PRODUCT',
    );
    const users = (await text(s3, 'runs/run-1/prepared/transform-input/users.jsonl'))
      .trim()
      .split('\n')
      .flatMap((l) =>
        (JSON.parse(l) as { instances: { user_id: number }[] }).instances.map((u) => u.user_id),
      );
    expect(users).toHaveLength(prepared.counts.testUsers);
    const answers = serveUsers(bundle, index, users);
    await put(
      s3,
      'runs/run-1/transform/candidate/users.jsonl.out',
      answers.map((a) => JSON.stringify(a)).join('\n') + '\n',
    );

    // Evaluate (no production yet)
    const result = await evaluate(
      {
        runId: 'run-1',
        trigger: { key: 'ratings/2026-01-02-b.csv', versionId: 'v2' },
        config,
        prepared,
        production: null,
        candidateOutput: prepared.uris.candidateTransformOutput,
        productionOutput: prepared.uris.productionTransformOutput,
      },
      deps(),
    );
    expect(result.gate.passed).toBe(true);
    expect(result.approvalText.length).toBeLessThanOrEqual(500);
    expect(result.primaryMetric.production).toBeNull();
    const summary = JSON.parse(await text(s3, 'runs/run-1/evaluation/summary.json'));
    expect(summary).toMatchObject({ runId: 'run-1', names: prepared.names, productionRunId: null });
    expect(await text(s3, 'runs/run-1/evaluation/report.html')).toMatch(/<!DOCTYPE html>/);

    // A later run evaluated against run-1 as production; a missing answer fails the evaluation.
    const lost: ServedRecommendation[] = answers.slice(1);
    await put(
      s3,
      'runs/run-1/transform/production/users.jsonl.out',
      lost.map((a) => JSON.stringify(a)).join('\n'),
    );
    await expect(
      evaluate(
        {
          runId: 'run-1',
          trigger: { key: 'manual', versionId: 'unknown' },
          config,
          prepared,
          production: { runId: 'run-0', modelName: 'reelflow-model-run-0', metrics: {} },
          candidateOutput: prepared.uris.candidateTransformOutput,
          productionOutput: prepared.uris.productionTransformOutput,
        },
        deps(),
      ),
    ).rejects.toThrow(/the production model answered no recommendation for 1 test user/);
    expect((await getPrefixTexts(s3, BUCKET, 'runs/run-1/transform/')).length).toBe(2);
  }, 120_000);

  it('rejects a bad upload before training, moves it to quarantine/ and writes the validation report', async () => {
    await put(
      s3,
      'ratings/2026-01-03-bad.csv',
      'userId,movieId,rating,timestamp\n' + 'x,1,4,1\n'.repeat(2000),
    );
    await expect(
      prepare(
        {
          runId: 'run-2',
          executionName: 'retrain-attempt-1',
          trigger: { key: 'ratings/2026-01-03-bad.csv', versionId: 'v3' },
          config,
          resourcePrefix: 'reelflow',
        },
        { ...deps(), ratingsPrefix: 'ratings/' },
      ),
    ).rejects.toThrow(
      /^rejected: 1 of 3 batches is bad and moved to quarantine\/: ratings\/2026-01-03-bad\.csv/,
    );
    const report = JSON.parse(await text(s3, 'runs/run-2/prepared/validation.json'));
    expect(report.accepted).toBe(false);
    expect(await keys(s3, 'runs/run-2/prepared/train/')).toEqual([]);
    expect(await keys(s3, 'ratings/')).not.toContain('ratings/2026-01-03-bad.csv');
    expect(await keys(s3, 'quarantine/')).toContain('quarantine/2026-01-03-bad.csv');
  });

  it('fails prepare on a bad config value, naming the key, and on a malformed event', async () => {
    const event = {
      runId: 'run-3',
      executionName: 'retrain-attempt-1',
      trigger: { key: 'manual', versionId: 'unknown' },
      config: { split: { testShare: 1.5 } },
      resourcePrefix: 'reelflow',
    };
    await expect(prepare(event, { ...deps(), ratingsPrefix: 'ratings/' })).rejects.toThrow(
      /invalid config reelflow\.ml\.split\.testShare/,
    );
    await expect(
      prepare({ ...event, config, runId: 'bad run id!' }, { ...deps(), ratingsPrefix: 'ratings/' }),
    ).rejects.toThrow(/run id 'bad run id!'/);
  });

  it('finds nothing to do when no rating file was uploaded yet, and says so in run.json and summary.json', async () => {
    // GIVEN an empty ratings prefix (a folder marker is no rating file)
    await put(s3, 'empty-ratings/', '');
    // WHEN Prepare runs
    const result = await prepare(
      {
        runId: 'run-5',
        executionName: 'retrain-attempt-1',
        trigger: { key: 'manual', versionId: 'unknown' },
        config,
        resourcePrefix: 'reelflow',
      },
      { ...deps(), ratingsPrefix: 'empty-ratings/' },
    );
    // THEN no rejection: a nothing-to-do result, recorded for the approval and the deploy workflow
    expect(result).toEqual({
      runId: 'run-5',
      nothingToDo: true,
      reason: 'no rating file under empty-ratings/ yet: nothing to train',
    });
    expect(JSON.parse(await text(s3, 'runs/run-5/evaluation/summary.json'))).toMatchObject({
      runId: 'run-5',
      nothingToDo: true,
      reportUri: `s3://${BUCKET}/runs/run-5/run.json`,
    });
    expect(JSON.parse(await text(s3, 'runs/run-5/run.json'))).toMatchObject({ inputs: [] });
    expect(await keys(s3, 'runs/run-5/prepared/')).toEqual([]);
  });

  it('still rejects a bad file when it is the only one (nothing to do means no file at all)', async () => {
    await put(s3, 'one-bad/x.csv', 'not,a,rating\n');
    await expect(
      prepare(
        {
          runId: 'run-6',
          executionName: 'retrain-attempt-1',
          trigger: { key: 'one-bad/x.csv', versionId: 'v' },
          config,
          resourcePrefix: 'reelflow',
        },
        { ...deps(), ratingsPrefix: 'one-bad/' },
      ),
    ).rejects.toThrow(DataRejectedError);
  });

  it('names the SageMaker resources per attempt and records the decoded trigger key', async () => {
    const event = (executionName: string) => ({
      runId: 'run-7',
      executionName,
      trigger: { key: encodeTriggerKey('ratings/2026-01-02-b.csv'), versionId: 'v2' },
      config,
      resourcePrefix: 'reelflow',
    });
    const first = (await prepare(event('retrain-a'), {
      ...deps(),
      ratingsPrefix: 'ratings/2026-01-02',
    })) as PrepareResult;
    const retried = (await prepare(event('retrain-b'), {
      ...deps(),
      ratingsPrefix: 'ratings/2026-01-02',
    })) as PrepareResult;
    expect(first.names.fmJob).not.toBe(retried.names.fmJob);
    expect(first.names.fmJob).toBe(`reelflow-fm-run-7-${attemptOf('retrain-a')}`);
    expect(JSON.parse(await text(s3, 'runs/run-7/run.json'))).toMatchObject({
      executionName: 'retrain-b',
      attempt: attemptOf('retrain-b'),
      trigger: { key: 'ratings/2026-01-02-b.csv' },
    });
  }, 120_000);

  it('fails evaluate when a transform output line is not a served recommendation', async () => {
    await put(s3, 'runs/run-1/transform/broken/users.jsonl.out', '{"user_id":1,"movies":[1,2]}\n');
    const prepared = {
      names: {
        fmJob: 'a',
        knnJob: 'b',
        model: 'c',
        transformModel: 'c2',
        productionTransformModel: 'c3',
        candidateTransformJob: 'd',
        productionTransformJob: 'e',
        endpointConfigPrefix: 'f',
      },
    };
    await expect(
      evaluate(
        {
          runId: 'run-1',
          trigger: { key: 'manual', versionId: 'unknown' },
          config,
          prepared,
          production: null,
          candidateOutput: `s3://${BUCKET}/runs/run-1/transform/broken/`,
          productionOutput: `s3://${BUCKET}/runs/run-1/transform/none/`,
        },
        deps(),
      ),
    ).rejects.toThrow(/candidate transform output line 1 is not a recommendation/);
  });

  it('fails build-vectors with a clear error when the FM artifact is missing or foreign', async () => {
    await put(s3, 'runs/run-1/fm/foreign/model.tar.gz', 'not a tarball');
    const prepared = { uris: { knnTrain: 'x', servingBundle: 'y' } } as unknown as PrepareResult;
    const event = (artifact: string) => ({ runId: 'run-1', prepared, fm: { artifact } });
    await expect(
      buildVectors(event(`s3://${BUCKET}/runs/run-1/fm/foreign/model.tar.gz`), deps()),
    ).rejects.toThrow(/not a valid gzip|not a tar/);
    await expect(
      buildVectors(event(`s3://${BUCKET}/runs/run-1/fm/none/model.tar.gz`), deps()),
    ).rejects.toThrow(/does not exist|NoSuchKey/);
  });
});

async function put(s3: S3Client, key: string, body: string | Uint8Array): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
}

async function text(s3: S3Client, key: string): Promise<string> {
  const response = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return response.Body!.transformToString();
}

async function keys(s3: S3Client, prefix: string): Promise<string[]> {
  const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (page.Contents ?? []).map((o) => o.Key!).sort();
}
