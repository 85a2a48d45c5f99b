/**
 * bench/harness.ts: a figure's ratio and verdict follow from its value, reference and target; an
 * unverified result fails whatever its ratio; the interleaving helper alternates its two subjects.
 */
import { failUnless, figure, formatFigure, interleave, median, type BenchFigure } from '../../bench/harness';

const base = {
  case: 'case',
  figure: 'rows/s vs the reference',
  unit: 'rows/s',
  verified: 'same rows',
} as const;

describe('figure()', () => {
  it('is the ratio value / reference, PASS when it meets a >= target and FAIL when it does not', () => {
    const pass = figure({ ...base, value: 50, reference: 100, target: { op: '>=', value: 0.33 } });
    expect(pass.ratio).toBe(0.5);
    expect(pass.pass).toBe(true);
    const fail = figure({ ...base, value: 20, reference: 100, target: { op: '>=', value: 0.33 } });
    expect(fail.pass).toBe(false);
    expect(formatFigure(fail)).toMatch(/^FAIL {2}case: .* = 0\.2 \(target >= 0\.33\)/);
  });

  it('reads a <= target the other way, and an absolute figure (no reference) as its value', () => {
    const rss = { ...base, unit: 'MB', reference: null, target: { op: '<=', value: 3072 } } as const;
    expect(figure({ ...rss, value: 2000 })).toMatchObject({ ratio: 2000, pass: true });
    expect(figure({ ...rss, value: 4000 })).toMatchObject({ ratio: 4000, pass: false });
  });

  it('is INFO (pass null) without a target', () => {
    const info = figure({ ...base, value: 1, reference: 2, target: null });
    expect(info.pass).toBeNull();
    expect(formatFigure(info)).toMatch(/^INFO /);
  });
});

describe('failUnless()', () => {
  it('fails a figure whose result was not verified, even one with no target or a passing ratio', () => {
    const good: BenchFigure = figure({ ...base, value: 9, reference: 1, target: { op: '>=', value: 1 } });
    expect(failUnless(true, good)).toBe(good);
    expect(failUnless(false, good).pass).toBe(false);
    expect(failUnless(false, figure({ ...base, value: 1, reference: 1, target: null })).pass).toBe(false);
  });
});

describe('median() and interleave()', () => {
  it('takes the middle value', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(3);
    expect(() => median([])).toThrow(RangeError);
  });

  it('alternates reference and subject, reference first, and returns their last results', async () => {
    const order: string[] = [];
    const out = await interleave(
      3,
      () => (order.push('s'), order.length),
      async () => (order.push('r'), order.length),
    );
    expect(order).toEqual(['r', 's', 'r', 's', 'r', 's']);
    expect(out.subject).toBe(6);
    expect(out.reference).toBe(5);
    expect(out.subjectMs).toBeGreaterThanOrEqual(0);
  });
});
