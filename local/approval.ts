/**
 * The Approve stage's manual approval, locally: CodePipeline shows the approver the summary text and a
 * report link and waits for Approve or Reject. Locally the decision comes from, in this order:
 *
 * 1. `--approve` / `--reject` on the command line;
 * 2. `CI=true` in the environment: approved (scripts and CI runs cannot answer a prompt);
 * 3. an interactive prompt on the terminal;
 * 4. with no terminal to ask (stdin is not a TTY, e.g. `npm start` from a script): approved, and the
 *    output says so and how to decide instead. A run only reaches the approval after its candidate
 *    passed the gate, and `npm ci && npm start` must end serving a model wherever it runs.
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
      const next = queue.then(async () => {
        const rl = createInterface({ input, output, terminal: true });
        try {
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

/** The approver the command line, the environment and the terminal call for. */
export function approverFor(
  flags: { readonly approve?: boolean; readonly reject?: boolean },
  env: NodeJS.ProcessEnv = process.env,
  stdin: NodeJS.ReadStream = process.stdin,
): Approver {
  if (flags.approve) return fixedApprover(true, '--approve');
  if (flags.reject) return fixedApprover(false, '--reject');
  if (env.CI === 'true') return fixedApprover(true, 'CI=true');
  if (stdin.isTTY) return promptApprover(stdin);
  return fixedApprover(
    true,
    'no terminal (automatic)',
    'stdin is not a terminal, so nobody can answer the prompt: approved because the gate passed; ' +
      'run in a terminal to be asked, or pass --reject',
  );
}
