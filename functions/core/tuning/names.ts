/**
 * The training job name of a trial: `<prefix>-tNN-<runTag>-<attempt>`, the run's FM job name with the
 * kind `fm` replaced by the trial number, so it is cut to 63 characters exactly as the run's other names
 * (functions/core/run-layout.ts) and scoped by the same `<prefix>-*` IAM patterns.
 */
import { runNames } from '../run-layout';

/** Trials a search may have: the names carry two digits. */
export const MAX_TRIALS = 100;

export function trialJobName(runId: string, prefix: string, attempt: string, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_TRIALS) {
    throw new Error(`trial index ${index} is outside 0..${MAX_TRIALS - 1}`);
  }
  const fmJob = runNames(runId, prefix, attempt).fmJob;
  const head = `${prefix}-fm-`;
  return `${prefix}-t${String(index).padStart(2, '0')}-${fmJob.slice(head.length)}`;
}
