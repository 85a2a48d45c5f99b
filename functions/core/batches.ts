/**
 * Batches: the per-upload decision of a run (pure, no I/O). Every run validates every batch under
 * `ratings/` on its own against the current ingest policy (`maxBadRowShare` applies to each batch), and
 * every batch that fails is moved to `quarantine/` by the Prepare handler; the data-set-level checks
 * then run on the union of the batches that passed. See docs/data-contract.md, "Batches, quarantine and
 * lineage".
 *
 * The rule is deliberately the simplest one that can neither wedge nor let a bad batch in: no state says
 * which batches were validated before (a batch that arrived while a run was in flight, and was
 * superseded, is validated by the next run like any other), and a batch the policy refuses never stays
 * in the training set.
 */
import type { IngestConfig } from './config';
import type { ValidationReport } from './ingest';

/** What ingestion reports for one batch (one file). */
export type BatchFileReport = ValidationReport['files'][number];

/** The verdict on one batch. */
export type BatchVerdict =
  { readonly accepted: true } | { readonly accepted: false; readonly reason: string };

/** The policy a batch is judged by: the ingest policy's bad-row share. */
export type BatchPolicy = Pick<IngestConfig, 'maxBadRowShare'>;

/**
 * Judges one batch on its own: refused when it cannot be read to the end, has no rows, has no valid
 * row, or has a bad-row share above `maxBadRowShare`.
 */
export function judgeBatch(file: BatchFileReport, policy: BatchPolicy): BatchVerdict {
  if (file.error !== undefined) return { accepted: false, reason: `could not be read: ${file.error}` };
  if (file.rows === 0) return { accepted: false, reason: 'has no rows' };
  const worst = worstReasons(file);
  if (file.goodRows === 0) {
    return { accepted: false, reason: `none of its ${file.rows} rows is valid (${worst})` };
  }
  const share = file.badRows / file.rows;
  if (share > policy.maxBadRowShare) {
    return {
      accepted: false,
      reason:
        `${percent(share)} of its rows are bad (${file.badRows} of ${file.rows}), above the allowed ` +
        `${percent(policy.maxBadRowShare)} (maxBadRowShare); most common: ${worst}`,
    };
  }
  return { accepted: true };
}

/** The batches of a run split by verdict, in the order given (upload order). */
export interface BatchDecision {
  readonly accepted: readonly string[];
  readonly rejected: readonly { readonly name: string; readonly reason: string }[];
}

/** Judges every batch on its own. */
export function decideBatches(files: readonly BatchFileReport[], policy: BatchPolicy): BatchDecision {
  const accepted: string[] = [];
  const rejected: { name: string; reason: string }[] = [];
  for (const file of files) {
    const verdict = judgeBatch(file, policy);
    if (verdict.accepted) accepted.push(file.name);
    else rejected.push({ name: file.name, reason: verdict.reason });
  }
  return { accepted, rejected };
}

/**
 * The run's rejection when some batches were refused: the validation report of all batches (read with
 * the per-batch policy), marked rejected, with the policy as configured and a message naming the
 * refused batches. The message starts with `rejected:` like every rejection of the data contract.
 */
export function rejectedRunReport(
  union: ValidationReport,
  decision: BatchDecision,
  policy: BatchPolicy,
  movedTo: string,
): ValidationReport {
  const total = decision.accepted.length + decision.rejected.length;
  const listed = decision.rejected.map((r) => `${r.name}: ${r.reason}`).join('; ');
  const message =
    `rejected: ${decision.rejected.length} of ${total} ${total === 1 ? 'batch' : 'batches'} ` +
    `${decision.rejected.length === 1 ? 'is' : 'are'} bad and moved to ${movedTo}: ${listed}`;
  return {
    ...union,
    accepted: false,
    message,
    policy: { ...union.policy, maxBadRowShare: policy.maxBadRowShare },
  };
}

/** A batch's path below its prefix: `ratings/2026/a.csv` -> `2026/a.csv`. */
export function batchPath(key: string, prefix: string): string {
  if (!key.startsWith(prefix)) throw new RangeError(`${key} is not under ${prefix}`);
  return key.slice(prefix.length);
}

/** Counts shown in the approval text, the report and the run history. */
export interface BatchCounts {
  readonly trained: number;
  readonly excluded: number;
}

/** The approval text's last line: `Batches: 3 trained, 1 excluded (quarantined or withdrawn).` */
export const BATCHES_LINE_PREFIX = 'Batches: ';

/**
 * `text` with the counts as its last line, at most `max` characters: the text before it is cut (with an
 * ellipsis) when both do not fit.
 */
export function withBatchesLine(text: string, counts: BatchCounts, max: number): string {
  const line = `\n${BATCHES_LINE_PREFIX}${formatBatchCounts(counts)}.`;
  if (text.length + line.length <= max) return text + line;
  return `${text.slice(0, Math.max(0, max - line.length - 1))}\u2026${line}`;
}

/** `3 trained, 1 excluded (quarantined or withdrawn)`. */
export function formatBatchCounts(counts: BatchCounts): string {
  return `${counts.trained} trained, ${counts.excluded} excluded (quarantined or withdrawn)`;
}

function worstReasons(file: BatchFileReport): string {
  return Object.entries(file.reasons)
    .map(([reason, sample]) => [reason, sample?.count ?? 0] as const)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
}

function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}
