/**
 * The FM trainer's WebAssembly SIMD kernels against the scalar float64 expressions they replace, on
 * random rows at random places in their memory.
 */
import { createFmSimdKernels } from '../../../functions/core/fm/simd';
import { Rng } from '../../../functions/core/random';

describe('FM SIMD kernels', () => {
  const stride = 6;
  const rows = 10;
  const k = createFmSimdKernels(1 << 16);
  const f32 = new Float32Array(k.memory.buffer);
  const f64 = new Float64Array(k.memory.buffer);
  // Layout (bytes): w at 0, s1 at 1024, s2 at 2048, gradients at 4096, row indices at 8192.
  const W = 0;
  const S1 = 1024;
  const S2 = 2048;
  const GRAD = 4096;
  const ROWS = 8192;
  const rng = new Rng(9);
  const fill = (at: number, n: number, f: () => number) => {
    for (let i = 0; i < n; i++) f32[at / 4 + i] = f();
  };

  it('dot sums the products of two float32 rows', () => {
    fill(W, rows * stride, () => rng.normal());
    let expected = 0;
    for (let f = 0; f < stride; f++) expected += f32[2 * stride + f] * f32[7 * stride + f];
    expect(k.dot(W + 2 * stride * 4, W + 7 * stride * 4, stride)).toBeCloseTo(expected, 12);
    expect(k.dot(W, W + stride * 4, 0)).toBe(0);
  });

  it('axpy2 adds g·vb to the first gradient row and g·va to the second', () => {
    fill(W, rows * stride, () => rng.normal());
    for (let i = 0; i < 2 * stride; i++) f64[GRAD / 8 + i] = rng.normal();
    const before = f64.slice(GRAD / 8, GRAD / 8 + 2 * stride);
    k.axpy2(GRAD, GRAD + stride * 8, W + 3 * stride * 4, W + 5 * stride * 4, 0.25, stride);
    for (let f = 0; f < stride; f++) {
      expect(f64[GRAD / 8 + f]).toBe(before[f] + 0.25 * f32[5 * stride + f]);
      expect(f64[GRAD / 8 + stride + f]).toBe(before[stride + f] + 0.25 * f32[3 * stride + f]);
    }
  });

  it('adam updates exactly the listed rows, bit for bit as the scalar MXNet update, and clears their gradients', () => {
    fill(W, rows * stride, () => rng.normal());
    fill(S1, rows * stride, () => rng.normal() * 0.1);
    fill(S2, rows * stride, () => Math.abs(rng.normal()) * 0.01);
    for (let i = 0; i < 2 * stride; i++) f64[GRAD / 8 + i] = rng.normal() * 0.1;
    new Int32Array(k.memory.buffer, ROWS, 2).set([8, 1]);
    const w = f32.slice(W / 4, W / 4 + rows * stride);
    const s1 = f32.slice(S1 / 4, S1 / 4 + rows * stride);
    const s2 = f32.slice(S2 / 4, S2 / 4 + rows * stride);
    const grad = f64.slice(GRAD / 8, GRAD / 8 + 2 * stride);
    const [lr, wd] = [0.01, 0.001];
    // The scalar update of bench/reference/fm.ts (`updateRow`), row 8 from slot 0, row 1 from slot 1.
    [8, 1].forEach((row, slot) => {
      for (let i = 0; i < stride; i++) {
        const j = row * stride + i;
        const g = grad[slot * stride + i] + wd * w[j];
        const m = (s1[j] = 0.9 * s1[j] + (1 - 0.9) * g);
        const s = (s2[j] = 0.999 * s2[j] + (1 - 0.999) * g * g);
        w[j] -= (lr * m) / (Math.sqrt(s) + 1e-8);
      }
    });
    k.adam(W, S1, S2, GRAD, ROWS, 2, stride, lr, wd);
    expect(f32.slice(W / 4, W / 4 + rows * stride)).toEqual(w);
    expect(f32.slice(S1 / 4, S1 / 4 + rows * stride)).toEqual(s1);
    expect(f32.slice(S2 / 4, S2 / 4 + rows * stride)).toEqual(s2);
    expect(Array.from(f64.slice(GRAD / 8, GRAD / 8 + 2 * stride))).toEqual(new Array(2 * stride).fill(0));
  });
});
