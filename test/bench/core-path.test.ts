import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMlConfig } from '../../functions/core/config';
import { runCorePath, type CorePathResult } from '../../bench/core-path';
import { readFmModelTarGz, writeFmModelTarGz } from '../../functions/core/fm/artifact';
import { fmExamplesFromRecordIO } from '../../functions/core/fm/encode';
import { fileSources } from '../../functions/core/ingest';
import { readRecordIO } from '../../functions/core/recordio';
import { readServingBundle } from '../../functions/core/serving/bundle';
import { serveUsers } from '../../functions/core/serving/pipeline';
import { directorySink } from '../../functions/core/sink';

const SAMPLE = join(__dirname, '..', '..', 'local', 'sample', 'ratings.csv');

/** The project's tuned implicit settings (cdk.json), fewer epochs for test time. */
const config = parseMlConfig({ fm: { epochs: 20, factors_lr: 0.01, factors_wd: 0.0001 } });

describe('the core path on the bundled sample', () => {
  const out = mkdtempSync(join(tmpdir(), 'core-path-'));
  let run: CorePathResult;

  beforeAll(async () => {
    // GIVEN the sample, WHEN ingest -> split -> encode -> local FM -> vectors -> k-NN -> serve -> evaluate
    run = await runCorePath({
      sources: await fileSources(SAMPLE),
      config,
      runId: 'run-1',
      sink: directorySink(out),
    });
  }, 120_000);

  it('beats most-popular on held-out NDCG@10 by at least 1.3x, and random by far', () => {
    const { evaluation } = run.evaluation;
    const candidate = evaluation.candidate['ndcg@10'];
    const popular = evaluation.baselines.popularity['ndcg@10'];
    expect(candidate).toBeGreaterThanOrEqual(1.3 * popular);
    expect(popular).toBeGreaterThan(3 * evaluation.baselines.random['ndcg@10']);
    expect(evaluation.gate.passed).toBe(true);
    expect(evaluation.production).toBeNull();
  });

  it('serves every test user through pre/k-NN/post: best first, unseen, topN long', () => {
    const testUsers = new Set(
      run.prepared.split.test.map((p) => run.prepared.ratings.users.ids[run.prepared.ratings.user[p]]),
    );
    expect(run.answers).toHaveLength(testUsers.size);
    const seen = new Map<number, Set<number>>();
    for (const p of run.prepared.split.train) {
      const user = run.prepared.ratings.users.ids[run.prepared.ratings.user[p]];
      if (!seen.has(user)) seen.set(user, new Set());
      seen.get(user)!.add(run.prepared.ratings.movies.ids[run.prepared.ratings.movie[p]]);
    }
    for (const answer of run.answers) {
      expect(answer.fallback).toBeUndefined();
      expect(answer.modelVersion).toBe('run-1');
      expect(answer.movies).toHaveLength(config.evaluation.topN);
      expect(new Set(answer.movies).size).toBe(answer.movies.length);
      for (const movie of answer.movies) expect(seen.get(answer.user_id)!.has(movie)).toBe(false);
    }
  });

  it('writes the run artifacts in their real formats', async () => {
    const prepared = join(out, 'prepared');
    const shards = readdirSync(join(prepared, 'train')).map((f) => readFileSync(join(prepared, 'train', f)));
    const examples = fmExamplesFromRecordIO(shards);
    expect(examples.length).toBe(run.prepared.train.length);
    expect(examples.featureDim).toBe(run.prepared.manifest.featureDim);
    expect(JSON.parse(readFileSync(join(prepared, 'validation.json'), 'utf8')).accepted).toBe(true);
    const manifest = JSON.parse(readFileSync(join(prepared, 'manifest.json'), 'utf8'));
    expect(manifest.hyperparameters.knn.feature_dim).toBe(String(config.fm.num_factors + 1 + 24));
    expect(Object.values(manifest.hyperparameters.fm).every((v) => typeof v === 'string')).toBe(true);

    const knnRows = readdirSync(join(out, 'vectors', 'knn-train')).flatMap((f) =>
      readRecordIO(readFileSync(join(out, 'vectors', 'knn-train', f))),
    );
    expect(knnRows).toHaveLength(run.prepared.ratings.movies.size + 24);
    expect(knnRows[0].features.values.values).toHaveLength(config.fm.num_factors + 1 + 24);

    const evaluation = JSON.parse(readFileSync(join(out, 'evaluation', 'evaluation.json'), 'utf8'));
    expect(Object.keys(evaluation)).toEqual(
      expect.arrayContaining(['candidate', 'production', 'baselines', 'gate']),
    );
    expect(readFileSync(join(out, 'evaluation', 'report.html'), 'utf8')).toMatch(/^<!DOCTYPE html>/);
  });

  it('serves the same answers from the bundle on disk and from a model that went through model.tar.gz', async () => {
    const bundle = await readServingBundle(readFileSync(join(out, 'vectors', 'serving-bundle.tar.gz')));
    const users = run.answers.slice(0, 20).map((a) => a.user_id);
    expect(serveUsers(bundle, run.version.index, users)).toEqual(run.answers.slice(0, 20));
    const model = await readFmModelTarGz(await writeFmModelTarGz(run.model));
    expect(Array.from(model.v)).toEqual(Array.from(run.model.v));
  });

  it('compares a second run against the first as production', async () => {
    const second = await runCorePath({
      sources: await fileSources(SAMPLE),
      config: { ...config, seed: 7 },
      runId: 'run-2',
      sink: directorySink(join(out, 'second')),
      production: run.version,
    });
    const { evaluation } = second.evaluation;
    expect(evaluation.production).not.toBeNull();
    expect(evaluation.comparison?.nUsers).toBeGreaterThan(0);
    expect(evaluation.comparison?.metrics['ndcg@10'].ci95).toHaveLength(2);
  }, 120_000);
});
