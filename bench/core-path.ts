/**
 * The whole core path of a run in one process, with the local stand-ins for the two built-ins:
 * prepare → local FM training → vectors + serving bundle → exact k-NN → serve every test user through
 * pre/k-NN/post → evaluate against production and the baselines.
 *
 * Tooling, not product: the benchmarks use it as the reference the local runtime is measured against
 * (e2e.bench.ts), and test/bench/core-path.test.ts checks the whole core on the bundled sample with it.
 * The local runtime (`npm start`) runs these same steps as the Task states of the synthesized state
 * machines instead; product code never imports this file.
 */
import type { ServedRecommendation } from '../functions/contracts';
import { buildVectors } from '../functions/core/build-vectors';
import type { MlConfig } from '../functions/core/config';
import { runEvaluation, type RunEvaluationOutput } from '../functions/core/evaluate/run-evaluation';
import { trainFm, type EpochReport } from '../functions/core/fm/train';
import type { RatingSource } from '../functions/core/ingest';
import { buildKnnIndex, type KnnIndex } from '../functions/core/knn';
import { prepareRun, type PrepareProgress, type PrepareRunResult } from '../functions/core/prepare';
import type { ServingBundle } from '../functions/core/serving/bundle';
import { serveUsers } from '../functions/core/serving/pipeline';
import type { ArtifactSink } from '../functions/core/sink';
import { splitRowsOf } from '../functions/core/split';
import type { FmModel } from '../functions/core/types';

/** A served model version: its bundle and its k-NN index (what an endpoint fleet holds). */
export interface ServedVersion {
  readonly bundle: ServingBundle;
  readonly index: KnnIndex;
}

export interface CorePathOptions {
  readonly sources: readonly RatingSource[];
  readonly config: MlConfig;
  /** The run id, returned by the API as `modelVersion`. */
  readonly runId: string;
  /** Artifacts go under `prepared/`, `vectors/` and `evaluation/` of this sink. */
  readonly sink: ArtifactSink;
  /** The model in production, evaluated on the same test users, or null. */
  readonly production?: ServedVersion | null;
  readonly onProgress?: (event: CorePathProgress) => void;
}

export type CorePathProgress =
  | PrepareProgress
  | { readonly stage: 'train'; readonly epoch: EpochReport }
  | { readonly stage: 'vectors' | 'serve' | 'evaluate'; readonly detail: string };

export interface CorePathResult {
  readonly prepared: PrepareRunResult;
  readonly model: FmModel;
  readonly fmMetrics: { readonly train: Record<string, number>; readonly test?: Record<string, number> };
  readonly version: ServedVersion;
  readonly answers: readonly ServedRecommendation[];
  readonly evaluation: RunEvaluationOutput;
  /** Milliseconds per stage. */
  readonly timings: Readonly<Record<'prepare' | 'train' | 'vectors' | 'serve' | 'evaluate', number>>;
}

export async function runCorePath(options: CorePathOptions): Promise<CorePathResult> {
  const { config, sink, runId, onProgress } = options;
  const timings = { prepare: 0, train: 0, vectors: 0, serve: 0, evaluate: 0 };
  const timed = async <T>(stage: keyof typeof timings, work: () => Promise<T> | T): Promise<T> => {
    const started = performance.now();
    try {
      return await work();
    } finally {
      timings[stage] = performance.now() - started;
    }
  };

  const prepared = await timed('prepare', () =>
    prepareRun({ sources: options.sources, sink: subSink(sink, 'prepared'), config, onProgress }),
  );
  const { ratings, split } = prepared;
  const featureDim = prepared.manifest.featureDim;
  const { model, metrics: fmMetrics } = await timed('train', () =>
    trainFm(
      prepared.train,
      { ...config.fm, feature_dim: featureDim },
      {
        seed: config.seed,
        test: prepared.test,
        onEpoch: (epoch) => onProgress?.({ stage: 'train', epoch }),
      },
    ),
  );

  const train = splitRowsOf(ratings, split.train);
  const test = splitRowsOf(ratings, split.test);
  const built = await timed('vectors', () =>
    buildVectors({
      model,
      users: ratings.users,
      movies: ratings.movies,
      train,
      modelVersion: runId,
      config,
      sink: subSink(sink, 'vectors'),
    }),
  );
  const index = buildKnnIndex(built.index.vectors, built.index.labels, built.index.dim, 'INNER_PRODUCT');
  const version: ServedVersion = { bundle: built.bundle, index };
  onProgress?.({
    stage: 'vectors',
    detail: `${ratings.movies.size} movie vectors of dimension ${index.dim}`,
  });

  const testUsers = distinctSorted(test.userId);
  const { answers, productionAnswers } = await timed('serve', () => ({
    answers: serveUsers(version.bundle, version.index, testUsers),
    productionAnswers: options.production
      ? serveUsers(options.production.bundle, options.production.index, testUsers)
      : null,
  }));
  onProgress?.({ stage: 'serve', detail: `${testUsers.length} test users served` });

  const evaluation = await timed('evaluate', async () => {
    const out = runEvaluation({
      train,
      test,
      catalog: ratings.movies.ids,
      candidate: answers,
      production: productionAnswers,
      config,
      meta: {
        runId,
        candidateVersion: runId,
        productionVersion: options.production?.bundle.manifest.modelVersion ?? null,
        createdAt: new Date().toISOString(),
      },
      reportUrl: sink.locate('evaluation/report.html'),
    });
    await sink.put('evaluation/evaluation.json', `${JSON.stringify(out.evaluation, null, 2)}\n`);
    await sink.put('evaluation/report.html', out.html);
    return out;
  });
  onProgress?.({ stage: 'evaluate', detail: out(evaluation) });
  return { prepared, model, fmMetrics, version, answers, evaluation, timings };
}

function out(evaluation: RunEvaluationOutput): string {
  return evaluation.evaluation.gate.passed ? 'gate passed' : 'gate rejected the candidate';
}

/** The same sink with every path under `prefix/`. */
export function subSink(sink: ArtifactSink, prefix: string): ArtifactSink {
  return {
    put: (path, data) => sink.put(`${prefix}/${path}`, data),
    open: (path) => sink.open(`${prefix}/${path}`),
    locate: (path) => sink.locate(`${prefix}/${path}`),
  };
}

function distinctSorted(ids: Int32Array): Int32Array {
  const sorted = Int32Array.from(new Set(ids)).sort();
  return sorted;
}
