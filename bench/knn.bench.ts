/**
 * Exact k-NN search speed against the machine's float32 matrix-multiply rate, measured in the same run.
 *
 * Case: a catalogue of n item vectors × d dims, q user queries, top k by inner product (default 50k ×
 * 64, 2k queries, k = 100; `--large`: 200k items, 4k queries). Figure: the search's GFLOP/s
 * (2·n·d·q / time) over the GFLOP/s of a float32 GEMM of the same shapes (target >= 0.3).
 *
 * The GEMM reference: a cache-blocked, single-thread float32 GEMM in WebAssembly SIMD (4 queries × 8
 * rows register tiles, rows packed dimension-major, blocks of 64 queries × 512 rows) — the fastest GEMM
 * Node runs without native code. Written here by hand because no installed package provides one: BLAS
 * bindings and faiss-node need native builds that cannot be installed offline (shared tooling.md §5), and
 * pure-JS matrix libraries compute in scalar float64. It writes its q × n product block by block into a
 * scratch block that stays in cache (the whole product, 400 MB at the default size, is never kept),
 * as the search does with its scores. A scalar JS float32 GEMM is reported for context (INFO), on a
 * slice of the queries.
 *
 * Verified: for a sample of queries, the search's rows equal a brute-force scan (every score in double,
 * sorted by score then row) and its scores equal the brute force's bit for bit; the catalogue holds
 * duplicated items, so ties (broken by the smaller row) are part of what is checked. The reference
 * GEMM's last block is checked against double sums.
 *
 * Run: node local/bin/run-ts.js bench/knn.bench.ts [--large] [--reps 3] [--check 200]
 */
import { parseArgs } from 'node:util';
import { buildKnnIndex, knnSearch, type KnnIndex } from '../functions/core/knn';
import { compileWasm, createMemory, instantiate, packRows, scoreTiles } from '../functions/core/knn/wasm';
import { Rng } from '../functions/core/random';
import { emit, figure, progress, report, type BenchFigure } from './harness';

const TARGET = 0.3;
/** Items that copy an earlier item (so ties happen), per thousand. */
const DUPLICATES_PER_THOUSAND = 10;

const { values } = parseArgs({
  options: {
    large: { type: 'boolean', default: false },
    reps: { type: 'string', default: '3' },
    check: { type: 'string', default: '200' },
  },
});

interface Shape {
  readonly n: number;
  readonly d: number;
  readonly q: number;
  readonly k: number;
}

/** The catalogue (with duplicated items) and the queries, seeded. */
function generate({ n, d, q }: Shape): { index: KnnIndex; queries: Float32Array } {
  const rng = new Rng(11);
  const vectors = new Float32Array(n * d);
  for (let i = 0; i < vectors.length; i++) vectors[i] = rng.normal() * 0.3;
  for (let r = 1; r < n; r++) {
    if (rng.int(1000) < DUPLICATES_PER_THOUSAND) {
      const from = rng.int(r);
      vectors.copyWithin(r * d, from * d, (from + 1) * d);
    }
  }
  const labels = Float32Array.from({ length: n }, (_, i) => i + 1);
  const queries = new Float32Array(q * d);
  for (let i = 0; i < queries.length; i++) queries[i] = rng.normal() * 0.3;
  return { index: buildKnnIndex(vectors, labels, d, 'INNER_PRODUCT'), queries };
}

/** Query and row blocks of the reference GEMM. */
const GEMM_QUERIES = 64;
const GEMM_ROWS = 512;
const GEMM_GROUP = 8;

interface GemmKernel {
  scores(x: number, groups: number, q: number, tiles: number, dim: number, out: number, ldo: number): void;
}

/** The float32 GEMM reference: prepared once (packing included in the timed call, as BLAS packs). */
function referenceGemm(index: KnnIndex, queries: Float32Array, nq: number) {
  const { dim, count, vectors } = index;
  const groups = Math.ceil(count / GEMM_GROUP);
  const xBytes = groups * GEMM_GROUP * dim * 4;
  const qBytes = Math.ceil(nq / 4) * 4 * dim * 4;
  const cBytes = GEMM_QUERIES * GEMM_ROWS * 4;
  const memory = createMemory(xBytes + qBytes + cBytes);
  const kernel = instantiate<GemmKernel>(compileWasm([scoreTiles('f32', false)]), memory);
  const x = new Float32Array(memory.buffer, 0, xBytes / 4);
  const qs = new Float32Array(memory.buffer, xBytes, qBytes / 4);
  const c = new Float32Array(memory.buffer, xBytes + qBytes, cBytes / 4);
  const run = (): void => {
    packRows(vectors, count, dim, x, GEMM_GROUP);
    qs.set(queries.subarray(0, nq * dim));
    const groupsPerBlock = GEMM_ROWS / GEMM_GROUP;
    for (let q0 = 0; q0 < nq; q0 += GEMM_QUERIES) {
      const tiles = Math.ceil(Math.min(GEMM_QUERIES, nq - q0) / 4);
      for (let g0 = 0; g0 < groups; g0 += groupsPerBlock) {
        const g1 = Math.min(groups, g0 + groupsPerBlock);
        kernel.scores(
          g0 * GEMM_GROUP * dim * 4,
          g1 - g0,
          xBytes + q0 * dim * 4,
          tiles,
          dim,
          xBytes + qBytes,
          GEMM_ROWS * 4,
        );
      }
    }
  };
  /** The last block's entries vs double sums (relative error of float32 sums). */
  const check = (): number => {
    const q0 = Math.floor((nq - 1) / GEMM_QUERIES) * GEMM_QUERIES;
    const r0 = Math.floor((groups - 1) / (GEMM_ROWS / GEMM_GROUP)) * GEMM_ROWS;
    let worst = 0;
    for (let j = 0; j < Math.min(GEMM_QUERIES, nq - q0); j++) {
      for (let r = r0; r < count; r++) {
        const want = dot(queries, q0 + j, vectors, r, dim);
        worst = Math.max(worst, Math.abs(c[j * GEMM_ROWS + (r - r0)] - want) / Math.max(1, Math.abs(want)));
      }
    }
    return worst;
  };
  return { run, check };
}

/** A scalar JS float32 GEMM (4 × 4 register tiles, row blocks of 256), into a cached output block. */
function scalarGemm(index: KnnIndex, queries: Float32Array, nq: number): void {
  const { dim: K, count: N, vectors: B } = index;
  const NB = 256;
  const C = new Float32Array(4 * NB);
  for (let j0 = 0; j0 < N; j0 += NB) {
    const j1 = Math.min(N, j0 + NB);
    for (let i = 0; i + 4 <= nq; i += 4) {
      const a0 = i * K;
      const a1 = a0 + K;
      const a2 = a1 + K;
      const a3 = a2 + K;
      for (let j = j0; j + 4 <= j1; j += 4) {
        const b0 = j * K;
        const b1 = b0 + K;
        const b2 = b1 + K;
        const b3 = b2 + K;
        let c00 = 0,
          c01 = 0,
          c02 = 0,
          c03 = 0,
          c10 = 0,
          c11 = 0,
          c12 = 0,
          c13 = 0;
        let c20 = 0,
          c21 = 0,
          c22 = 0,
          c23 = 0,
          c30 = 0,
          c31 = 0,
          c32 = 0,
          c33 = 0;
        for (let p = 0; p < K; p++) {
          const x0 = queries[a0 + p];
          const x1 = queries[a1 + p];
          const x2 = queries[a2 + p];
          const x3 = queries[a3 + p];
          const y0 = B[b0 + p];
          const y1 = B[b1 + p];
          const y2 = B[b2 + p];
          const y3 = B[b3 + p];
          c00 += x0 * y0;
          c01 += x0 * y1;
          c02 += x0 * y2;
          c03 += x0 * y3;
          c10 += x1 * y0;
          c11 += x1 * y1;
          c12 += x1 * y2;
          c13 += x1 * y3;
          c20 += x2 * y0;
          c21 += x2 * y1;
          c22 += x2 * y2;
          c23 += x2 * y3;
          c30 += x3 * y0;
          c31 += x3 * y1;
          c32 += x3 * y2;
          c33 += x3 * y3;
        }
        const o = j - j0;
        C[o] = c00;
        C[o + 1] = c01;
        C[o + 2] = c02;
        C[o + 3] = c03;
        C[NB + o] = c10;
        C[NB + o + 1] = c11;
        C[NB + o + 2] = c12;
        C[NB + o + 3] = c13;
        C[2 * NB + o] = c20;
        C[2 * NB + o + 1] = c21;
        C[2 * NB + o + 2] = c22;
        C[2 * NB + o + 3] = c23;
        C[3 * NB + o] = c30;
        C[3 * NB + o + 1] = c31;
        C[3 * NB + o + 2] = c32;
        C[3 * NB + o + 3] = c33;
      }
    }
  }
}

function dot(a: Float32Array, i: number, b: Float32Array, j: number, d: number): number {
  let s = 0;
  for (let p = 0; p < d; p++) s += a[i * d + p] * b[j * d + p];
  return s;
}

/** Brute force for one query: every score in double, sorted by score (largest first) then row. */
function bruteForce(index: KnnIndex, queries: Float32Array, qi: number, k: number) {
  const { count, dim, vectors } = index;
  const scores = new Float64Array(count);
  for (let r = 0; r < count; r++) scores[r] = dot(queries, qi, vectors, r, dim);
  const order = Int32Array.from({ length: count }, (_, r) => r).sort(
    (a, b) => scores[b] - scores[a] || a - b,
  );
  const rows = Array.from(order.subarray(0, k));
  return { rows, scores: rows.map((r) => scores[r]) };
}

function seconds(run: () => void): number {
  const t = performance.now();
  run();
  return (performance.now() - t) / 1000;
}

function main(): void {
  const large = values.large!;
  const shape: Shape = large
    ? { n: 200_000, d: 64, q: 4_000, k: 100 }
    : { n: 50_000, d: 64, q: 2_000, k: 100 };
  const reps = Number(values.reps);
  const checkCount = Math.min(shape.q, Number(values.check));
  const label = `k-NN exact search, ${shape.n / 1000}k items × ${shape.d} dims, ${shape.q} queries, k=${shape.k}`;
  const flops = 2 * shape.n * shape.d * shape.q;
  const figures: BenchFigure[] = [];

  progress(`generating ${label}`);
  const { index, queries } = generate(shape);
  const gemm = referenceGemm(index, queries, shape.q);

  progress('warm-up (packing, wasm tier-up)');
  knnSearch(index, queries.subarray(0, 64 * shape.d), 64, shape.k);
  gemm.run();

  // A/B interleaved; the best of each side counts (the machine is shared).
  let searchBest = Infinity;
  let gemmBest = Infinity;
  let result = knnSearch(index, queries.subarray(0, shape.d), 1, shape.k);
  for (let rep = 0; rep < reps; rep++) {
    gemmBest = Math.min(gemmBest, seconds(gemm.run));
    searchBest = Math.min(
      searchBest,
      seconds(() => {
        result = knnSearch(index, queries, shape.q, shape.k);
      }),
    );
    progress(
      `rep ${rep + 1}/${reps}: search ${searchBest.toFixed(2)} s, float32 GEMM ${gemmBest.toFixed(2)} s (best so far)`,
    );
  }
  const gemmError = gemm.check();

  progress(`brute force on ${checkCount} queries`);
  let mismatches = 0;
  let tiedPairs = 0;
  for (let c = 0; c < checkCount; c++) {
    const qi = Math.floor((c * shape.q) / checkCount);
    const want = bruteForce(index, queries, qi, shape.k);
    const rows = Array.from(result.rows.subarray(qi * shape.k, (qi + 1) * shape.k));
    const scores = Array.from(result.distances.subarray(qi * shape.k, (qi + 1) * shape.k));
    const same =
      rows.every((r, i) => r === want.rows[i]) && scores.every((s, i) => s === Math.fround(want.scores[i]));
    if (!same) mismatches++;
    for (let i = 1; i < shape.k; i++) if (want.scores[i] === want.scores[i - 1]) tiedPairs++;
  }
  const verified =
    mismatches === 0
      ? `top-${shape.k} rows and scores equal brute force for ${checkCount} of ${shape.q} queries (${tiedPairs} tied neighbour pairs among them)`
      : `MISMATCH: ${mismatches} of ${checkCount} queries differ from brute force`;
  const gflops = (s: number, f = flops) => f / s / 1e9;
  const f1 = figure({
    case: label,
    figure: 'search GFLOP/s vs a float32 wasm SIMD GEMM of the same shapes (same run)',
    value: gflops(searchBest),
    unit: 'GFLOP/s',
    reference: gflops(gemmBest),
    target: { op: '>=', value: TARGET },
    // A wrong answer fails the figure whatever its speed.
    ratio: mismatches === 0 ? undefined : 0,
    verified: `${verified}; reference GEMM's last block within ${gemmError.toExponential(1)} of double sums`,
    detail: { searchSeconds: searchBest, gemmSeconds: gemmBest, reps, ...shape },
  });
  report(f1);
  figures.push(f1);

  const scalarQueries = Math.min(shape.q, 256);
  progress(`scalar JS float32 GEMM on ${scalarQueries} queries (context)`);
  const scalarSeconds = seconds(() => scalarGemm(index, queries, scalarQueries));
  const f2 = figure({
    case: label,
    figure: 'search GFLOP/s vs a scalar JS float32 GEMM (4×4 tiles; context)',
    value: gflops(searchBest),
    unit: 'GFLOP/s',
    reference: gflops(scalarSeconds, 2 * shape.n * shape.d * scalarQueries),
    target: null,
    verified: 'as above',
  });
  report(f2);
  figures.push(f2);
  emit(figures);
}

main();
