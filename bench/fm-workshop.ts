/**
 * Measures the local FM trainer against the built-in's figures from the seed workshop: MovieLens-100k
 * `ua.base` / `ua.test`, one-hot users then movies (943 + 1682 = 2625 columns, the max ids in train),
 * label rating >= 4, train rows shuffled once, FM binary classifier with the workshop settings
 * (num_factors 64, epochs 100, mini_batch_size 1000, adam, the built-in's default lr/wd/init).
 *
 * The reference numbers come from the executed notebook's training log
 * (`johanneslanger/recommendations-on-aws-workshop@fb6c718`, lab 2 notebook 1). The data is not in the
 * repository (its licence forbids redistribution): pass the two files explicitly.
 *
 *   npx tsx bench/fm-workshop.ts --base <ua.base> --test <ua.test> [--seed 42] [--epochs 100]
 */
import { readFileSync } from 'node:fs';
import { fmSchema } from '../functions/core/config';
import { trainFm, type EpochReport } from '../functions/core/fm/train';
import { Rng } from '../functions/core/random';
import type { SparseExamples } from '../functions/core/types';

/** The built-in's logged metrics (test after epoch 99; train per epoch, selected epochs). */
const REFERENCE_TEST = {
  binary_classification_accuracy: 0.6978,
  'binary_f_1.000': 0.7436,
  binary_classification_cross_entropy: 0.5769,
};
const REFERENCE_TRAIN: Record<number, [accuracy: number, crossEntropy: number]> = {
  0: [0.5493, 0.6843],
  1: [0.5662, 0.674],
  2: [0.5987, 0.6644],
  4: [0.6577, 0.6473],
  9: [0.7092, 0.6145],
  19: [0.7275, 0.5777],
  29: [0.734, 0.5584],
  49: [0.744, 0.5372],
  69: [0.7465, 0.5251],
  99: [0.7505, 0.5136],
};

interface Args {
  base: string;
  test: string;
  seed: number;
  epochs: number;
}

function parseArgs(argv: string[]): Args | undefined {
  const named = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) return undefined;
    named.set(argv[i].slice(2), argv[i + 1]);
  }
  const base = named.get('base');
  const test = named.get('test');
  if (!base || !test) return undefined;
  const seed = Number(named.get('seed') ?? 42);
  const epochs = Number(named.get('epochs') ?? 100);
  if (!Number.isInteger(seed) || !Number.isInteger(epochs) || epochs <= 0) return undefined;
  return { base, test, seed, epochs };
}

/** `user \t movie \t rating \t timestamp` lines -> columnar arrays. */
function readUaFile(path: string): { user: Int32Array; movie: Int32Array; rating: Float32Array } {
  const lines = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const user = new Int32Array(lines.length);
  const movie = new Int32Array(lines.length);
  const rating = new Float32Array(lines.length);
  lines.forEach((line, i) => {
    const [u, m, r] = line.split('\t');
    user[i] = Number(u);
    movie[i] = Number(m);
    rating[i] = Number(r);
    if (!(user[i] > 0 && movie[i] > 0 && Number.isFinite(rating[i]))) {
      throw new Error(`${path}:${i + 1}: not a u.data-style line: ${JSON.stringify(line)}`);
    }
  });
  return { user, movie, rating };
}

/** The notebook's one-hot encoding, rows in the given order. */
function encode(
  rows: ReturnType<typeof readUaFile>,
  order: ArrayLike<number>,
  nbUsers: number,
  nbMovies: number,
): SparseExamples {
  const n = order.length;
  const rowPtr = new Uint32Array(n + 1);
  const cols = new Uint32Array(2 * n);
  const vals = new Float32Array(2 * n).fill(1);
  const label = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = order[i];
    if (rows.user[r] > nbUsers || rows.movie[r] > nbMovies) {
      throw new Error(`row ${r}: user ${rows.user[r]} / movie ${rows.movie[r]} unseen in training`);
    }
    rowPtr[i + 1] = 2 * (i + 1);
    cols[2 * i] = rows.user[r] - 1;
    cols[2 * i + 1] = nbUsers + rows.movie[r] - 1;
    label[i] = rows.rating[r] >= 4 ? 1 : 0;
  }
  return { featureDim: nbUsers + nbMovies, length: n, rowPtr, cols, vals, label };
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  if (!args) {
    console.error(
      'usage: npx tsx bench/fm-workshop.ts --base <ml-100k/ua.base> --test <ml-100k/ua.test> [--seed 42] [--epochs 100]',
    );
    process.exit(2);
  }
  const base = readUaFile(args.base);
  const testRows = readUaFile(args.test);
  const nbUsers = Math.max(...base.user);
  const nbMovies = Math.max(...base.movie);
  const order = new Rng(args.seed).shuffle(Uint32Array.from({ length: base.user.length }, (_, i) => i));
  const train = encode(base, order, nbUsers, nbMovies);
  const test = encode(
    testRows,
    Uint32Array.from({ length: testRows.user.length }, (_, i) => i),
    nbUsers,
    nbMovies,
  );
  const positives = (d: SparseExamples): number => d.label.reduce((s, y) => s + y, 0);
  console.log(
    `users ${nbUsers}, movies ${nbMovies}, feature_dim ${train.featureDim}; ` +
      `train ${train.length} (${positives(train)} positive), test ${test.length} (${positives(test)} positive)`,
  );

  const hp = {
    ...fmSchema.parse({}),
    num_factors: 64,
    epochs: args.epochs,
    mini_batch_size: 1000,
    predictor_type: 'binary_classifier' as const,
    feature_dim: train.featureDim,
  };
  const onEpoch = (e: EpochReport): void => {
    const ref = REFERENCE_TRAIN[e.epoch];
    if (!ref && e.epoch !== args.epochs - 1) return;
    console.log(
      `epoch ${String(e.epoch).padStart(3)}  train accuracy ${e.trainAccuracy!.toFixed(4)}` +
        (ref ? ` (built-in ${ref[0].toFixed(4)})` : '') +
        `  cross-entropy ${e.trainLoss.toFixed(4)}` +
        (ref ? ` (built-in ${ref[1].toFixed(4)})` : '') +
        `  ${Math.round(e.examplesPerSecond).toLocaleString('en-US')} examples/s`,
    );
  };
  const started = performance.now();
  const { metrics } = trainFm(train, hp, { seed: args.seed, test, onEpoch });
  const seconds = (performance.now() - started) / 1000;

  console.log(`\ntest metric                            local    built-in`);
  for (const [name, ref] of Object.entries(REFERENCE_TEST)) {
    console.log(`${name.padEnd(36)} ${metrics.test![name].toFixed(4)}    ${ref.toFixed(4)}`);
  }
  console.log(
    `binary_precision / binary_recall      ${metrics.test!.binary_precision.toFixed(4)} / ${metrics.test!.binary_recall.toFixed(4)}`,
  );
  console.log(
    `wall time ${seconds.toFixed(2)} s for ${args.epochs} epochs (built-in: 142 s billable on ml.m5.large)`,
  );
  // Last line: machine-readable, for bench/run.ts.
  console.log(
    JSON.stringify({ test: metrics.test, reference: REFERENCE_TEST, seconds: Number(seconds.toFixed(2)) }),
  );
}

main();
