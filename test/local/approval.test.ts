import { PassThrough } from 'node:stream';
import { approverFor, awaitApiApprover, promptApprover } from '../../local/approval';

const request = { runId: 'r0002', approvalText: 'ndcg@10 0.25 vs 0.24' };
const tty = (isTTY: boolean) => ({ isTTY }) as NodeJS.ReadStream;

describe('the local manual approval', () => {
  it('decides by --approve / --reject first, then CI=true, then asks a terminal', async () => {
    await expect(approverFor({ approve: true }, { CI: 'false' }, tty(true)).decide(request)).resolves.toEqual(
      {
        approved: true,
        by: '--approve',
      },
    );
    await expect(
      approverFor({ reject: true }, { CI: 'true' }, tty(true)).decide(request),
    ).resolves.toMatchObject({
      approved: false,
      by: '--reject',
    });
    await expect(approverFor({}, { CI: 'true' }, tty(false)).decide(request)).resolves.toMatchObject({
      approved: true,
      by: 'CI=true',
    });
  });

  it('approves a gated candidate, saying how to decide, when nobody can answer (no terminal, no flag, not CI)', async () => {
    const decision = await approverFor({}, {}, tty(false)).decide(request);
    expect(decision).toMatchObject({
      approved: true,
      by: 'no terminal (automatic)',
      comment: expect.stringMatching(/--reject/),
    });
  });

  it('--await-approval: decides nothing, names the commands, and gives up only when the wait is cancelled', async () => {
    const lines: string[] = [];
    const approver = approverFor({ awaitApproval: true }, { CI: 'true' }, tty(true), (line) =>
      lines.push(line),
    );
    const cancel = new AbortController();
    let settled = false;
    const decision = approver.decide(request, cancel.signal).finally(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(settled).toBe(false);
    expect(lines).toEqual([expect.stringContaining('npx reelflow approve r0002')]);
    cancel.abort();
    await expect(decision).resolves.toMatchObject({ approved: false });
    await expect(awaitApiApprover().decide(request, AbortSignal.abort())).resolves.toMatchObject({
      approved: false,
    });
  });

  it('asks the question and approves only on y/yes', async () => {
    for (const [answer, approved] of [
      ['y', true],
      ['YES', true],
      ['', false],
      ['no', false],
    ] as const) {
      const input = new PassThrough();
      const output = new PassThrough();
      let asked = '';
      output.on('data', (chunk: Buffer) => (asked += chunk.toString()));
      const decision = promptApprover(input, output).decide(request);
      input.write(`${answer}\n`);
      await expect(decision).resolves.toMatchObject({ approved, by: 'you (prompt)' });
      expect(asked).toContain('Approve run r0002 for deployment? [y/N]');
    }
  });
});
