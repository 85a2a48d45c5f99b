import { PassThrough } from 'node:stream';
import { approverFor, promptApprover } from '../../local/approval';

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
