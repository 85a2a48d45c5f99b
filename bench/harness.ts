/**
 * What every benchmark script reports, and how: each figure is a ratio against an independent reference
 * measured in the same run, each result is verified (what was checked is said), and each target is
 * printed PASS or FAIL. No absolute-time targets.
 *
 * A bench script prints a progress line per case on stderr (`progress`), each figure as it completes
 * (`report`), and, as the last line of stdout, `{"figures": [...]}` (`emit`), which `run.ts` collects,
 * prints as one summary and saves as JSON.
 */

/** A target on a figure's ratio. */
export interface BenchTarget {
  readonly op: '>=' | '<=';
  readonly value: number;
}

/** One checked figure. */
export interface BenchFigure {
  /** The case, e.g. `FM trainer, ml-100k size`. */
  readonly case: string;
  /** What the ratio is, e.g. `examples/s vs the reference FM (same data, same epochs)`. */
  readonly figure: string;
  /** The measured quantity and its unit, e.g. `1.2e6 examples/s`. */
  readonly value: number;
  readonly unit: string;
  /** The reference's measurement in the same run, in the same unit (null when the figure is absolute, e.g. RSS). */
  readonly reference: number | null;
  /** The figure itself: value / reference, or value when reference is null. */
  readonly ratio: number;
  readonly target: BenchTarget | null;
  /** True/false against the target; null when the figure has none (context only). */
  readonly pass: boolean | null;
  /** What was verified about the result (e.g. `top-10 equals brute force for 500 users`). */
  readonly verified: string;
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** Builds a figure; `pass` follows from the ratio and the target. */
export function figure(spec: Omit<BenchFigure, 'ratio' | 'pass'> & { ratio?: number }): BenchFigure {
  const ratio = spec.ratio ?? (spec.reference === null ? spec.value : spec.value / spec.reference);
  const pass =
    spec.target === null
      ? null
      : spec.target.op === '>='
        ? ratio >= spec.target.value
        : ratio <= spec.target.value;
  return { ...spec, ratio, pass };
}

/** One line on stderr: what runs now. */
export function progress(line: string): void {
  process.stderr.write(`  .. ${line}\n`);
}

/** Prints a figure as soon as it is known (stderr, so stdout's last line stays the JSON). */
export function report(f: BenchFigure): void {
  process.stderr.write(`${formatFigure(f)}\n`);
}

export function formatFigure(f: BenchFigure): string {
  const verdict = f.pass === null ? 'INFO' : f.pass ? 'PASS' : 'FAIL';
  const target = f.target ? ` (target ${f.target.op} ${f.target.value})` : '';
  const against = f.reference === null ? '' : ` vs ${fmt(f.reference)} ${f.unit}`;
  return `${verdict}  ${f.case}: ${f.figure} = ${fmt(f.ratio)}${target}; ${fmt(f.value)} ${f.unit}${against}; verified: ${f.verified}`;
}

/** The last line of stdout: every figure of the script. */
export function emit(figures: readonly BenchFigure[]): void {
  process.stdout.write(`${JSON.stringify({ figures })}\n`);
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return n.toExponential(3);
  return Number(n.toPrecision(4)).toString();
}

/** The median of `xs` (the upper one of an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of no values');
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

/**
 * Runs `subject` and `reference` alternately `reps` times (reference first each round), so JIT warm-up
 * and machine noise hit both alike; returns each one's median milliseconds and its last result.
 */
export async function interleave<S, R>(
  reps: number,
  subject: () => Promise<S> | S,
  reference: () => Promise<R> | R,
): Promise<{ subjectMs: number; referenceMs: number; subject: S; reference: R }> {
  const subjectTimes: number[] = [];
  const referenceTimes: number[] = [];
  let s: S | undefined;
  let r: R | undefined;
  for (let rep = 0; rep < reps; rep++) {
    let started = performance.now();
    r = await reference();
    referenceTimes.push(performance.now() - started);
    started = performance.now();
    s = await subject();
    subjectTimes.push(performance.now() - started);
  }
  return {
    subjectMs: median(subjectTimes),
    referenceMs: median(referenceTimes),
    subject: s as S,
    reference: r as R,
  };
}

/** This process's peak resident set size so far, in MB (the OS's maxRSS, not the JS heap). */
export function peakRssMB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** `f` as it is when its result was verified (`ok`); FAIL whatever its ratio when it was not. */
export function failUnless(ok: boolean, f: BenchFigure): BenchFigure {
  return ok ? f : { ...f, pass: false };
}
