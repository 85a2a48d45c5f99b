/**
 * The local clock for the deploy config's waits. The config speaks AWS seconds (a 300 s canary wait, a
 * 600 s bake, a 60 s poll interval); the local runtime runs every one of them as a real, timed wait,
 * shortened by one factor so that a blue/green deployment takes seconds instead of twenty minutes. The
 * alarms' one-minute periods use the same factor, so the guardrails keep their proportions: a canary
 * wait still spans five alarm periods.
 */

/** The default: one configured second lasts 10 ms (a 300 s canary wait is 3 s). */
export const DEFAULT_MS_PER_SECOND = 10;

/** Thrown for a scale that is not a finite number of milliseconds >= 0. */
export class TimeScaleError extends Error {
  constructor(value: unknown) {
    super(`the time scale must be a number of milliseconds per configured second >= 0, got ${String(value)}`);
    this.name = 'TimeScaleError';
  }
}

export class TimeScale {
  constructor(readonly msPerSecond: number = DEFAULT_MS_PER_SECOND) {
    if (typeof msPerSecond !== 'number' || !Number.isFinite(msPerSecond) || msPerSecond < 0) {
      throw new TimeScaleError(msPerSecond);
    }
  }

  /** Local milliseconds of `seconds` configured seconds. */
  ms(seconds: number): number {
    return seconds * this.msPerSecond;
  }

  /** `1 s = 10 ms`, for the terminal. */
  describe(): string {
    return `1 s = ${this.msPerSecond} ms`;
  }
}
