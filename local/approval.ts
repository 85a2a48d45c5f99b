/**
 * The Approve stage's manual approval, locally: CodePipeline shows the approver the summary text and a
 * report link and waits for Approve or Reject. Locally the decision comes from, in this order:
 *
 * 1. `--approve` / `--reject` on the command line;
 * 2. `--await-approval`: nobody here decides; the run waits for `reelflow approve|reject <runId>`
 *    (CodePipeline PutApprovalResult on the twin), as the console waits for a click;
 * 3. `CI=true` in the environment: approved (scripts and CI runs cannot answer a prompt);
 * 4. an interactive prompt on the terminal, which also names `npx reelflow approve <runId>`;
 * 5. with no terminal to ask (stdin is not a TTY, e.g. `npm start` from a script): approved, and the
 *    output says so and how to decide instead. A run only reaches the approval after its candidate
 *    passed the gate, and `npm ci && npm start` must end serving a model wherever it runs.
 *
 * Whatever the approver, the pipeline (pipeline-runner.ts) also accepts PutApprovalResult while the
 * run waits: the first decision wins and the other is cancelled through the `signal`.
 */
import { createInterface } from 'node:readline/promises';

export interface ApprovalRequest {
  readonly runId: string;
  /** The summarize action's `approvalText` (<= 500 characters). */
  readonly approvalText: string;
  /** The HTML evaluation report, as a local file path. */
  readonly reportPath?: string;
  /** The summarize action's `reportUrl` (an S3 console link in AWS). */
  readonly reportUrl?: string;
}

export interface ApprovalDecision {
  readonly approved: boolean;
  /** Who or what decided: `--approve`, `CI=true`, `you (prompt)`, ... */
  readonly by: string;
  readonly comment?: string;
}

export interface Approver {
  decide(request: ApprovalRequest, signal?: AbortSignal): Promise<ApprovalDecision>;
}

/** An approver that always answers the same (flags, CI, tests). */
export function fixedApprover(approved: boolean, by: string, comment?: string): Approver {
  return { decide: async () => ({ approved, by, comment }) };
}

/**
 * Asks on a terminal: `y`/`yes` approves, anything else rejects. Prompts are asked one at a time
 * (two runs never wait in Approve together, but a run and the next can follow closely).
 */
export function promptApprover(
  input: NodeJS.ReadableStream = process.stdin,
  output: NodeJS.WritableStream = process.stdout,
): Approver {
  let queue: Promise<unknown> = Promise.resolve();
  return {
    decide(request, signal) {
      const next = queue.then(async (): Promise<ApprovalDecision> => {
        // Decided elsewhere (PutApprovalResult) while an earlier prompt was open: nothing to ask.
        if (signal?.aborted) return { approved: false, by: 'no answer', comment: 'decided elsewhere' };
        const rl = createInterface({ input, output, terminal: true });
        try {
          output.write(
            `  (or from another terminal: npx reelflow approve ${request.runId} | npx reelflow reject ${request.runId} --reason <text>)\n`,
          );
          const answer = await rl.question(`  Approve run ${request.runId} for deployment? [y/N] `, {
            signal,
          });
          const approved = /^(y|yes)$/i.test(answer.trim());
          return { approved, by: 'you (prompt)' };
        } catch {
          return { approved: false, by: 'no answer', comment: 'the prompt was interrupted' };
        } finally {
          rl.close();
        }
      });
      queue = next.catch(() => undefined);
      return next;
    },
  };
}

/**
 * An approver that never decides: the run waits for PutApprovalResult (`reelflow approve|reject`),
 * which the pipeline races against it. `write` hears one line per request naming the commands. When
 * the signal aborts (the API decided, or the runtime stops) it answers "not approved here".
 */
export function awaitApiApprover(write?: (line: string) => void): Approver {
  return {
    decide(request, signal) {
      write?.(
        `  waiting for approval: npx reelflow approve ${request.runId}   (or npx reelflow reject ${request.runId} --reason <text>)`,
      );
      return new Promise((resolve) => {
        const stop = (): void =>
          resolve({ approved: false, by: 'nobody here', comment: 'the wait for an API decision ended' });
        if (signal?.aborted) stop();
        else signal?.addEventListener('abort', stop, { once: true });
      });
    },
  };
}

/** The approver the command line, the environment and the terminal call for. */
export function approverFor(
  flags: { readonly approve?: boolean; readonly reject?: boolean; readonly awaitApproval?: boolean },
  env: NodeJS.ProcessEnv = process.env,
  stdin: NodeJS.ReadStream = process.stdin,
  write?: (line: string) => void,
): Approver {
  if (flags.approve) return fixedApprover(true, '--approve');
  if (flags.reject) return fixedApprover(false, '--reject');
  if (flags.awaitApproval) return awaitApiApprover(write);
  if (env.CI === 'true') return fixedApprover(true, 'CI=true');
  if (stdin.isTTY) return promptApprover(stdin);
  return fixedApprover(
    true,
    'no terminal (automatic)',
    'stdin is not a terminal, so nobody can answer the prompt: approved because the gate passed; ' +
      'run in a terminal to be asked, or pass --reject',
  );
}
