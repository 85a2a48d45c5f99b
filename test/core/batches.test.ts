import {
  batchPath,
  decideBatches,
  formatBatchCounts,
  judgeBatch,
  rejectedRunReport,
  withBatchesLine,
  type BatchFileReport,
} from '../../functions/core/batches';
import type { ValidationReport } from '../../functions/core/ingest';

function file(
  name: string,
  rows: number,
  badRows: number,
  extra: Partial<BatchFileReport> = {},
): BatchFileReport {
  return {
    name,
    format: 'ratings.csv',
    formatDecidedBy: 'content',
    gzip: false,
    crlf: false,
    header: true,
    bytes: rows * 20,
    lines: rows + 1,
    rows,
    goodRows: rows - badRows,
    badRows,
    trailingEmptyLines: 0,
    reasons: badRows > 0 ? { bad_rating: { count: badRows, lines: [2] } } : {},
    ...extra,
  };
}

const policy = { maxBadRowShare: 0.01 };

describe('judgeBatch', () => {
  it('accepts a batch at or under the bad-row share', () => {
    expect(judgeBatch(file('a', 100, 1), policy)).toEqual({ accepted: true });
    expect(judgeBatch(file('a', 100, 0), policy)).toEqual({ accepted: true });
  });

  it('refuses a batch above the share, with the share and the reasons', () => {
    expect(judgeBatch(file('a', 100, 2), policy)).toEqual({
      accepted: false,
      reason:
        '2.0% of its rows are bad (2 of 100), above the allowed 1.0% (maxBadRowShare); most common: bad_rating 2',
    });
  });

  it('refuses a batch with no valid row, no rows, or a read error', () => {
    expect(judgeBatch(file('a', 2, 2), policy)).toEqual({
      accepted: false,
      reason: 'none of its 2 rows is valid (bad_rating 2)',
    });
    expect(judgeBatch(file('a', 0, 0), policy)).toEqual({ accepted: false, reason: 'has no rows' });
    expect(judgeBatch(file('a', 10, 0, { error: 'truncated gzip' }), policy)).toEqual({
      accepted: false,
      reason: 'could not be read: truncated gzip',
    });
  });

  it('applies maxBadRowShare to each batch: a 100%-bad tiny batch among a big good set is refused', () => {
    const files = [file('ratings/big.csv', 1_000_000, 0), file('ratings/tiny.csv', 3, 3)];
    // Over the union the share would be 0.0003 %: the old rule accepted it.
    expect(decideBatches(files, policy)).toEqual({
      accepted: ['ratings/big.csv'],
      rejected: [{ name: 'ratings/tiny.csv', reason: 'none of its 3 rows is valid (bad_rating 3)' }],
    });
  });
});

describe('rejectedRunReport', () => {
  it('marks the union report rejected, restores the configured policy and names the refused batches', () => {
    const union = {
      accepted: true,
      message: 'accepted ...',
      policy: { format: 'auto', maxBadRowShare: 1, ratingMin: 0.5, ratingMax: 5 },
      totals: {} as ValidationReport['totals'],
      reasons: { bad_rating: 3 },
      files: [],
    } as ValidationReport;
    const decision = {
      accepted: ['ratings/a.csv'],
      rejected: [{ name: 'ratings/b.csv', reason: 'has no rows' }],
    };
    const report = rejectedRunReport(union, decision, policy, 'quarantine/');
    expect(report.accepted).toBe(false);
    expect(report.policy.maxBadRowShare).toBe(0.01);
    expect(report.message).toBe(
      'rejected: 1 of 2 batches is bad and moved to quarantine/: ratings/b.csv: has no rows',
    );
  });
});

describe('helpers', () => {
  it('batchPath keeps the path below the prefix, and refuses a key outside it', () => {
    expect(batchPath('ratings/2026/a.csv', 'ratings/')).toBe('2026/a.csv');
    expect(() => batchPath('runs/a', 'ratings/')).toThrow(RangeError);
  });

  it('formats the counts', () => {
    expect(formatBatchCounts({ trained: 3, excluded: 1 })).toBe(
      '3 trained, 1 excluded (quarantined or withdrawn)',
    );
  });
});

describe('withBatchesLine', () => {
  it('appends the counts line, cutting the text before it when both do not fit', () => {
    const counts = { trained: 2, excluded: 0 };
    expect(withBatchesLine('ok', counts, 500)).toBe(
      'ok\nBatches: 2 trained, 0 excluded (quarantined or withdrawn).',
    );
    const cut = withBatchesLine('x'.repeat(600), counts, 500);
    expect(cut).toHaveLength(500);
    expect(cut.endsWith('\u2026\nBatches: 2 trained, 0 excluded (quarantined or withdrawn).')).toBe(true);
  });
});
