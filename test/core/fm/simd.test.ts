/**
 * The FM trainer's WebAssembly kernels against the scalar expressions they replace, on a small memory
 * laid out by hand: `batch` (logits, sigmoid, log loss, confusion counts, gradients into slots) and
 * `adam` (float32 factor rows, float64-math linear weights, slots released).
 */
import { createFmSimdKernels, type FmKernelLayout } from '../../../functions/core/fm/simd';

const DIM = 6;
const STRIDE = 8; // float32s per block (num_factors 5, padded)
const NF = 5;
const ROW_FLOATS = 3 * STRIDE;
const MAX_ROWS = 8;
const MAX_SLOTS = 16;

const LAYOUT: FmKernelLayout = {
  params: 0,
  rowBytes: ROW_FLOATS * 4,
  vecBytes: STRIDE * 4,
  classifier: 1,
  w1: 1024,
  w1m: 1056,
  w1q: 1088,
  slotOf: 1120,
  slotFeature: 1152,
  gradLinear: 1216,
  grad: 1344,
  out: 1856,
  pairs: 2112,
  stats: 1920,
  rowPtr: 1952,
  cols: 2000,
  label: 2064,
  flags: 2096,
};

function setup(classifier: boolean) {
  const k = createFmSimdKernels(1 << 16, { ...LAYOUT, classifier: classifier ? 1 : 0 });
  const { buffer } = k.memory;
  const view = {
    params: new Float32Array(buffer, LAYOUT.params, DIM * ROW_FLOATS),
    w1: new Float32Array(buffer, LAYOUT.w1, DIM),
    w1m: new Float32Array(buffer, LAYOUT.w1m, DIM),
    w1q: new Float32Array(buffer, LAYOUT.w1q, DIM),
    slotOf: new Int32Array(buffer, LAYOUT.slotOf, DIM).fill(-1),
    slotFeature: new Int32Array(buffer, LAYOUT.slotFeature, MAX_SLOTS),
    gradLinear: new Float64Array(buffer, LAYOUT.gradLinear, MAX_SLOTS),
    grad: new Float32Array(buffer, LAYOUT.grad, MAX_SLOTS * STRIDE),
    stats: new Float64Array(buffer, LAYOUT.stats, 2),
    counts: new Int32Array(buffer, LAYOUT.stats + 16, 3),
    rowPtr: new Uint32Array(buffer, LAYOUT.rowPtr, MAX_ROWS + 1),
    cols: new Uint32Array(buffer, LAYOUT.cols, 16),
    label: new Float32Array(buffer, LAYOUT.label, MAX_ROWS),
    flags: new Uint8Array(buffer, LAYOUT.flags, MAX_ROWS),
  };
  return { k, ...view };
}

/** Factor f of feature j: small multiples of 1/8, so the float32 dot products are exact. */
const factor = (j: number, f: number) => (((j * 7 + f * 3) % 9) - 4) / 8;

describe('FM kernels: batch', () => {
  // Rows (user, movie) as Prepare writes them; row 2 has three entries (not one-hot, skipped);
  // the data's row pointers start at 10 (the batch is a slice of a larger CSR matrix).
  const rows = [
    [0, 3],
    [1, 4],
    [0, 5, 2],
    [2, 3],
    [0, 4],
  ];
  const labels = [1, 0, 1, 0, 1];
  const w1 = [0.5, -0.25, 2, -40, 1, 0.125];

  function load(m: ReturnType<typeof setup>) {
    for (let j = 0; j < DIM; j++) {
      for (let f = 0; f < NF; f++) m.params[j * ROW_FLOATS + f] = factor(j, f);
      m.w1[j] = w1[j];
    }
    let at = 10;
    m.rowPtr[0] = at;
    rows.forEach((cols, r) => {
      cols.forEach((c, i) => (m.cols[at - 10 + i] = c));
      at += cols.length;
      m.rowPtr[r + 1] = at;
      m.flags[r] = cols.length === 2 ? 1 : 0;
      m.label[r] = labels[r];
    });
  }
  const logit = (w0: number, a: number, b: number) => {
    let dot = 0;
    for (let f = 0; f < NF; f++) dot += factor(a, f) * factor(b, f);
    return w0 + w1[a] + w1[b] + dot;
  };

  it('computes logits, sigmoid gradients, log loss and confusion counts of the one-hot rows', () => {
    // GIVEN a batch with four one-hot rows (one of them with a logit near −40) and one that is not
    const m = setup(true);
    load(m);
    const w0 = 0.75;
    const scale = 1 / rows.length;
    // WHEN the batch kernel runs
    const slots = m.k.batch(rows.length, w0, scale, 0);
    // THEN each one-hot row's gradient and loss are the float64 formulas (exp and log within 1e-12)
    let loss = 0;
    let gSum = 0;
    let [tp, fp, fn] = [0, 0, 0];
    const gradLinear = new Map<number, number>();
    rows.forEach(([a, b], r) => {
      if (rows[r].length !== 2) return;
      const z = logit(w0, a, b);
      const y = labels[r];
      const g = (1 / (1 + Math.exp(-z)) - y) * scale;
      loss += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
      gSum += g;
      if (z > 0 && y === 1) tp++;
      if (z > 0 && y === 0) fp++;
      if (z <= 0 && y === 1) fn++;
      gradLinear.set(a, (gradLinear.get(a) ?? 0) + g);
      gradLinear.set(b, (gradLinear.get(b) ?? 0) + g);
    });
    expect(m.stats[0]).toBeCloseTo(loss, 10);
    expect(m.stats[1]).toBeCloseTo(gSum, 12);
    expect(Array.from(m.counts)).toEqual([tp, fp, fn]);
    // AND the features got slots in row order (row 2 skipped), with their linear gradients
    expect(slots).toBe(5);
    expect(Array.from(m.slotFeature.subarray(0, slots))).toEqual([0, 3, 1, 4, 2]);
    for (const [j, g] of gradLinear) expect(m.gradLinear[m.slotOf[j]]).toBeCloseTo(g, 12);
    expect(m.slotOf[5]).toBe(-1);
  });

  it('writes a fresh slot’s gradients over what a released slot left, and adds to a slot in use', () => {
    // GIVEN stale gradients in the slots (the Adam kernel leaves them), and slot 0 already taken
    const m = setup(true);
    load(m);
    m.grad.fill(7);
    m.gradLinear.fill(7);
    m.slotOf[0] = 0;
    m.slotFeature[0] = 0;
    m.gradLinear[0] = 0.5;
    m.grad.fill(0.5, 0, STRIDE);
    // WHEN the first row (features 0 and 3) runs
    const slots = m.k.batch(1, 0, 1, 1);
    // THEN feature 3's fresh slot holds exactly this row's gradient, feature 0's has it added
    const g = 1 / (1 + Math.exp(-logit(0, 0, 3))) - 1;
    expect(slots).toBe(2);
    expect(m.gradLinear[1]).toBeCloseTo(g, 12);
    expect(m.gradLinear[0]).toBeCloseTo(0.5 + g, 12);
    for (let f = 0; f < NF; f++) {
      expect(m.grad[STRIDE + f]).toBeCloseTo(g * factor(0, f), 6);
      expect(m.grad[f]).toBeCloseTo(0.5 + g * factor(3, f), 6);
    }
  });

  it('adds g·v of the other feature to each feature’s factor gradient, zeros in the padding', () => {
    const m = setup(true);
    load(m);
    const w0 = -0.5;
    m.k.batch(rows.length, w0, 1, 0);
    const expected = new Map<number, number[]>();
    rows.forEach(([a, b], r) => {
      if (rows[r].length !== 2) return;
      const g = Math.fround(1 / (1 + Math.exp(-logit(w0, a, b))) - labels[r]);
      for (const [j, other] of [
        [a, b],
        [b, a],
      ]) {
        const row = expected.get(j) ?? new Array<number>(STRIDE).fill(0);
        for (let f = 0; f < NF; f++) row[f] += g * factor(other, f);
        expected.set(j, row);
      }
    });
    for (const [j, row] of expected) {
      const got = m.grad.subarray(m.slotOf[j] * STRIDE, (m.slotOf[j] + 1) * STRIDE);
      row.forEach((x, f) => expect(got[f]).toBeCloseTo(x, 6));
      expect(Array.from(got.subarray(NF), Math.abs)).toEqual([0, 0, 0]);
    }
  });

  it('takes a regressor’s gradient ŷ − y and squared error', () => {
    const m = setup(false);
    load(m);
    m.label.set([3.5, 1, 4, 2, 5]);
    const slots = m.k.batch(2, 0.25, 0.5, 0);
    const d0 = logit(0.25, 0, 3) - 3.5;
    const d1 = logit(0.25, 1, 4) - 1;
    expect(m.stats[0]).toBeCloseTo(d0 * d0 + d1 * d1, 10);
    expect(m.stats[1]).toBeCloseTo(0.5 * (d0 + d1), 12);
    expect(slots).toBe(4);
  });
});

describe('FM kernels: adam', () => {
  const f = Math.fround;

  it('updates exactly the slots’ rows as MXNet Adam, float32 factors bit for bit, and releases the slots', () => {
    // GIVEN two slots (features 4 and 1) with gradients, and moments from earlier steps
    const m = setup(true);
    let seed = 1;
    const next = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
    for (let i = 0; i < DIM * ROW_FLOATS; i++) m.params[i] = i % STRIDE < NF ? next() : 0;
    for (let j = 0; j < DIM; j++) {
      for (let i = 0; i < NF; i++) m.params[j * ROW_FLOATS + 2 * STRIDE + i] = Math.abs(next()) * 0.01;
      m.w1[j] = next();
      m.w1m[j] = next() * 0.1;
      m.w1q[j] = Math.abs(next()) * 0.01;
    }
    m.slotFeature.set([4, 1]);
    m.slotOf[4] = 0;
    m.slotOf[1] = 1;
    for (let i = 0; i < 2 * STRIDE; i++) m.grad[i] = i % STRIDE < NF ? next() * 0.1 : 0;
    m.gradLinear.set([0.03, -0.02]);
    const params = m.params.slice();
    const w1 = m.w1.slice();
    const w1m = m.w1m.slice();
    const w1q = m.w1q.slice();
    const grad = m.grad.slice(0, 2 * STRIDE);
    const [lr, wd, lrLinear, wdLinear] = [0.01, 0.001, 0.02, 0.003];
    // WHEN Adam steps
    m.k.adam(2, lr, wd, lrLinear, wdLinear);
    // THEN the factor rows follow the float32 update (every operation rounded to float32)
    [4, 1].forEach((j, s) => {
      for (let i = 0; i < STRIDE; i++) {
        const [w, mm, q] = [0, 1, 2].map((b) => j * ROW_FLOATS + b * STRIDE + i);
        const g = f(grad[s * STRIDE + i] + f(f(wd) * params[w]));
        params[mm] = f(f(f(0.9) * params[mm]) + f(f(1 - 0.9) * g));
        params[q] = f(f(f(0.999) * params[q]) + f(f(f(1 - 0.999) * g) * g));
        params[w] = f(params[w] - f(f(f(lr) * params[mm]) / f(f(Math.sqrt(params[q])) + f(1e-8))));
      }
      // AND the linear weight follows the reference's float64 update, stored as float32
      const g = [0.03, -0.02][s] + wdLinear * w1[j];
      const mm = 0.9 * w1m[j] + (1 - 0.9) * g;
      const q = 0.999 * w1q[j] + (1 - 0.999) * g * g;
      w1m[j] = mm;
      w1q[j] = q;
      w1[j] = w1[j] - (lrLinear * mm) / (Math.sqrt(q) + 1e-8);
    });
    expect(m.params).toEqual(params);
    expect(m.w1).toEqual(w1);
    expect(m.w1m).toEqual(w1m);
    expect(m.w1q).toEqual(w1q);
    // AND the slots are released
    expect(Array.from(m.slotOf)).toEqual(new Array(DIM).fill(-1));
  });
});
