/**
 * The checks of `reelflow verify-aws` as they run (CheckRecorder), and the table and cost line printed
 * at the end.
 */
import { describeError, VerifyAbortedError } from './errors';
import { estimateCost, PRICES_AS_OF, type CostEstimate, type InstanceUsage } from './pricing';

/** The checks, in order (the table lists every one, run or not). */
export const CHECKS = {
  stack: 'stack outputs',
  upload: 'prepare + upload',
  trainFm: 'train FM',
  vectors: 'FM artifact -> vectors',
  trainKnn: 'train k-NN',
  endpoint: 'model + endpoint',
  invoke: 'invoke pre/knn/post',
  recommend: 'recommend Lambda path',
  api: 'deployed API',
  cleanup: 'cleanup',
} as const;

export type CheckName = (typeof CHECKS)[keyof typeof CHECKS];

export interface CheckResult {
  readonly check: CheckName;
  readonly result: 'pass' | 'fail' | 'skip';
  readonly detail: string;
  readonly seconds: number;
}

export interface VerifyReport {
  readonly id: string;
  readonly checks: readonly CheckResult[];
  readonly usages: readonly InstanceUsage[];
  readonly cost: CostEstimate;
  /** Every check passed (a skipped optional check counts as passed). */
  readonly passed: boolean;
}

/** What a check's body returns: a detail, a value with a detail, or why it was skipped. */
export type CheckOutcome<T> =
  string | { readonly value: T; readonly detail: string } | { readonly skip: string };

/** Runs checks one by one and records their result, time and detail. */
export class CheckRecorder {
  private readonly results: CheckResult[] = [];
  private failure?: CheckName;

  constructor(
    private readonly now: () => number,
    private readonly onCheck?: (check: CheckResult) => void,
    private readonly signal?: AbortSignal,
  ) {}

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Runs `body` as check `check`; a thrown error is recorded as its failure and rethrown. */
  async run<T = undefined>(check: CheckName, body: () => Promise<CheckOutcome<T>>): Promise<T> {
    const started = this.now();
    const seconds = (): number => (this.now() - started) / 1000;
    try {
      if (this.signal?.aborted && check !== CHECKS.cleanup) throw new VerifyAbortedError();
      const outcome = await body();
      if (typeof outcome === 'string') {
        this.record({ check, result: 'pass', detail: outcome, seconds: seconds() });
        return undefined as T;
      }
      if ('skip' in outcome) {
        this.record({ check, result: 'skip', detail: outcome.skip, seconds: seconds() });
        return undefined as T;
      }
      this.record({ check, result: 'pass', detail: outcome.detail, seconds: seconds() });
      return outcome.value;
    } catch (error) {
      this.failure ??= check;
      this.record({ check, result: 'fail', detail: describeError(error), seconds: seconds() });
      throw error;
    }
  }

  /** Records every check before cleanup that did not run. */
  skipRemaining(): void {
    const done = new Set(this.results.map((r) => r.check));
    for (const check of Object.values(CHECKS)) {
      if (check === CHECKS.cleanup || done.has(check)) continue;
      this.record({
        check,
        result: 'skip',
        detail: `not run: ${this.failure ?? 'an earlier step'} failed`,
        seconds: 0,
      });
    }
  }

  report(id: string, usages: readonly InstanceUsage[]): VerifyReport {
    const order = Object.values(CHECKS) as string[];
    const checks = [...this.results].sort((a, b) => order.indexOf(a.check) - order.indexOf(b.check));
    return {
      id,
      checks,
      usages,
      cost: estimateCost(usages),
      passed: checks.every((c) => c.result !== 'fail'),
    };
  }

  private record(result: CheckResult): void {
    this.results.push(result);
    this.onCheck?.(result);
  }
}

/** The final table, `check | result | detail | seconds`, and the cost line. */
export function formatReport(report: VerifyReport): string {
  const rows = report.checks.map((c) => [c.check, c.result, c.detail, c.seconds.toFixed(1)]);
  const header = ['check', 'result', 'detail', 'seconds'];
  const widths = [0, 1, 2, 3].map((i) => Math.max(header[i].length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    `${cells[0].padEnd(widths[0])} | ${cells[1].padEnd(widths[1])} | ${cells[2].padEnd(widths[2])} | ` +
    cells[3].padStart(widths[3]);
  const { usd, unpriced } = report.cost;
  const instanceSeconds = report.usages
    .map((u) => `${u.what} ${Math.round(u.seconds)} s x ${u.instances} ${u.instanceType}`)
    .join(', ');
  return [
    line(header),
    ...rows.map(line),
    '',
    `estimated cost: $${usd.toFixed(3)} (an estimate: instance-seconds x on-demand list prices, ${PRICES_AS_OF}` +
      `${unpriced.length ? `; not priced: ${unpriced.join(', ')}` : ''})`,
    ...(instanceSeconds ? [`instance time: ${instanceSeconds}`] : []),
    `verify id ${report.id}: ${report.passed ? 'all checks passed' : 'FAILED'}`,
  ].join('\n');
}
