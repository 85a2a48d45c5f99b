/**
 * The local FM trainer (`trainFm`: one-hot special case, WebAssembly SIMD kernels) against the scalar
 * general trainer it replaced (bench/reference/fm.ts, kept verbatim), on the same data, seed and
 * epochs, interleaved in this process (median of the rounds):
 *
 *   default   an ml-100k-sized set: 943 users × 1,682 movies, ~100 k ratings (generated,
 *             `local/sample/synthetic.ts`), split and encoded as Prepare does (implicit objective,
 *             its sampled negatives), 3 rounds × 2 epochs
 *   --large   ~1 M ratings (6,040 users × 3,706 movies, ml-1m's shape), 1 round × 1 epoch
 *
 * Figure: training examples/s of the fast trainer / the reference's, target >= 5. Verified: the two
 * models' largest relative weight difference is within the equivalence test's tolerance (1e-5, see
 * test/core/fm/train-equivalence.test.ts) and the test-set accuracy is the same.
 *
 * Run: node local/bin/run-ts.js bench/fm.bench.ts [--large]
 */
import { parseArgs } from 'node:util';
import { parseMlConfig } from '../functions/core/config';
import { encodeFmExamples } from '../functions/core/fm/encode';
import { fmMetrics, scoreFm, trainFm, type FmTrainingResult } from '../functions/core/fm/train';
import { bufferSource, ingestRatings } from '../functions/core/ingest';
import { Rng } from '../functions/core/random';
import { splitRatings } from '../functions/core/split';
import type { SparseExamples } from '../functions/core/types';
import { generateSample } from '../local/sample/synthetic';
import { emit, failUnless, figure, interleave, progress, report } from './harness';
import { trainFmReference } from './reference/fm';

const { values } = parseArgs({ options: { large: { type: 'boolean', default: false } } });

const MAX_RELATIVE = 1e-5;
const FLOOR = 1e-3;

const CASE = values.large
  ? { name: 'ml-1m size', users: 6040, movies: 3706, perUser: 165, rounds: 1, epochs: 1 }
  : { name: 'ml-100k size', users: 943, movies: 1682, perUser: 106, rounds: 3, epochs: 2 };

/** The FM channels exactly as Prepare builds them (split, implicit objective with sampled negatives). */
async function prepared(): Promise<{ train: SparseExamples; test: SparseExamples; ratings: number }> {
  const config = parseMlConfig({});
  const { ratingsCsv } = generateSample({
    users: CASE.users,
    movies: CASE.movies,
    meanRatingsPerUser: CASE.perUser,
    seed: 100,
  });
  const { ratings } = await ingestRatings([bufferSource('ratings.csv', ratingsCsv)], config.ingest);
  const rng = new Rng(config.seed);
  const split = splitRatings(ratings, config.split, rng.nextU32());
  const encodeRng = rng.fork();
  const train = encodeFmExamples(ratings, split.train, config.encoding, encodeRng);
  const test = encodeFmExamples(ratings, split.test, config.encoding, encodeRng, { exclude: split.train });
  return { train, test, ratings: ratings.length };
}

function maxRelativeDifference(a: FmTrainingResult, b: FmTrainingResult): number {
  const rel = (x: number, y: number) => Math.abs(x - y) / Math.max(Math.abs(y), FLOOR);
  let max = rel(a.model.w0, b.model.w0);
  for (let i = 0; i < a.model.w1.length; i++) max = Math.max(max, rel(a.model.w1[i], b.model.w1[i]));
  for (let i = 0; i < a.model.v.length; i++) max = Math.max(max, rel(a.model.v[i], b.model.v[i]));
  return max;
}

async function main(): Promise<void> {
  progress(`generating and preparing the ${CASE.name} set`);
  const { train, test, ratings } = await prepared();
  // The project's tuned implicit settings (cdk.json), as the core path trains them.
  const config = parseMlConfig({ fm: { epochs: CASE.epochs, factors_lr: 0.01, factors_wd: 0.0001 } });
  const hp = { ...config.fm, feature_dim: train.featureDim };
  progress(
    `${ratings} ratings -> ${train.length} training examples (with negatives), feature_dim ${train.featureDim}; ` +
      `${CASE.rounds} interleaved rounds of ${CASE.epochs} epoch(s) per trainer`,
  );
  // Training only, whole calls (validation, init, epochs); the test set is scored afterwards.
  const run = await interleave(
    CASE.rounds,
    () => trainFm(train, hp, { seed: 1 }),
    () => trainFmReference(train, hp, { seed: 1 }),
  );
  const examples = train.length * CASE.epochs;
  const fastRate = examples / (run.subjectMs / 1000);
  const referenceRate = examples / (run.referenceMs / 1000);
  const diff = maxRelativeDifference(run.subject, run.reference);
  const accuracy = (r: FmTrainingResult) =>
    fmMetrics(hp.predictor_type, scoreFm(r.model, test), test.label).binary_classification_accuracy;
  const accFast = accuracy(run.subject);
  const accReference = accuracy(run.reference);
  const ok = diff <= MAX_RELATIVE && accFast === accReference;
  const f = failUnless(
    ok,
    figure({
      case: `FM trainer, ${CASE.name} (${train.length} examples, ${CASE.epochs} epoch(s))`,
      figure: 'examples/s vs the reference scalar FM trainer (same data, seed, epochs)',
      value: fastRate,
      unit: 'examples/s',
      reference: referenceRate,
      target: { op: '>=', value: 5 },
      verified:
        `max relative weight difference ${diff.toExponential(2)} (tolerance ${MAX_RELATIVE}), ` +
        `test accuracy ${accFast.toFixed(6)} vs ${accReference.toFixed(6)}` +
        (ok ? '' : ' MISMATCH'),
      detail: {
        examples: train.length,
        testExamples: test.length,
        featureDim: train.featureDim,
        epochs: CASE.epochs,
        rounds: CASE.rounds,
        fastMs: run.subjectMs,
        referenceMs: run.referenceMs,
        maxRelativeDifference: diff,
      },
    }),
  );
  report(f);
  emit([f]);
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});
