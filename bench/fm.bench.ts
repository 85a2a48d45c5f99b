/**
 * The local FM trainer (`trainFm`: one-hot special case, the whole mini-batch in WebAssembly SIMD,
 * float32 factor updates) against the scalar general trainer it replaced (bench/reference/fm.ts,
 * kept verbatim), on the same data, seed and epochs, interleaved in this process (median of the
 * rounds):
 *
 *   default   an ml-100k-sized set: 943 users × 1,682 movies, ~100 k ratings (generated,
 *             `local/sample/synthetic.ts`), split and encoded as Prepare does (implicit objective,
 *             its sampled negatives), 3 rounds × 2 epochs
 *   --large   ~1 M ratings (6,040 users × 3,706 movies, ml-1m's shape), 1 round × 1 epoch
 *
 * Figure: training examples/s of the fast trainer / the reference's, target >= 5.
 *
 * Verified, as test/core/fm/train-equivalence.test.ts does: the same model to float32 rounding and
 * the same predictions. The fast trainer does the factor rows' arithmetic in float32 (the reference
 * stores float32 but computes in float64), so each factor update is rounded at ~6e-8 relative
 * instead of once at the store, and Adam carries those roundings on through every later step, so
 * they grow with the number of steps: the two models measure 3.6e-4 apart at most on the default
 * case (762 steps) and 1.6e-3 on --large (3,917 steps), relative to |w| (absolute below FLOOR),
 * while a 1% change of a learning rate or weight decay, or another update order, moves them by 3e-2
 * and more (the equivalence test). Hence MAX_RELATIVE 5e-3 with an absolute floor of 5e-3·1e-3 for
 * weights near 0. And what the model is for, on the test set: accuracy within 0.5 percentage
 * points, and the AUC (how well the scores rank positives above negatives, which is what the
 * recommender uses them for) within MAX_AUC = 1e-3.
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

const MAX_RELATIVE = 5e-3;
const FLOOR = 1e-3;
const MAX_ACCURACY_POINTS = 0.5;
const MAX_AUC = 1e-3;

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
  const test = encodeFmExamples(ratings, split.test, config.encoding, encodeRng, {
    exclude: split.train,
    recentCopies: false,
  });
  return { train, test, ratings: ratings.length };
}

/** Area under the ROC curve of `scores` for 0/1 `labels` (ties count half), by ranking. */
function auc(scores: Float64Array, labels: Float32Array): number {
  const order = Array.from(scores.keys()).sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j < order.length && scores[order[j]] === scores[order[i]]) j++;
    const rank = (i + j + 1) / 2; // 1-based mean rank of the tie group
    for (let k = i; k < j; k++) {
      if (labels[order[k]] === 1) {
        positives++;
        rankSum += rank;
      }
    }
    i = j;
  }
  const negatives = order.length - positives;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
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
  const aucFast = auc(scoreFm(run.subject.model, test), test.label);
  const aucReference = auc(scoreFm(run.reference.model, test), test.label);
  const ok =
    diff <= MAX_RELATIVE &&
    Math.abs(accFast - accReference) * 100 <= MAX_ACCURACY_POINTS &&
    Math.abs(aucFast - aucReference) <= MAX_AUC;
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
        `max relative weight difference ${diff.toExponential(2)} (float32 tolerance ${MAX_RELATIVE}), ` +
        `test accuracy ${accFast.toFixed(6)} vs ${accReference.toFixed(6)} (within ${MAX_ACCURACY_POINTS} points), ` +
        `test AUC ${aucFast.toFixed(6)} vs ${aucReference.toFixed(6)} (within ${MAX_AUC})` +
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
        testAccuracy: { fast: accFast, reference: accReference },
        testAuc: { fast: aucFast, reference: aucReference },
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
