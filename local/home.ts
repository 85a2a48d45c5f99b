/**
 * The local runtime's folder (`.reelflow/` in the repository by default, gitignored):
 *
 *   s3/                 the local S3's objects (s3rver): uploads under ratings/, every run under runs/
 *   runs/<runId>/       copies of each run's evaluation.json, report.html, summary, records, to open;
 *                       progress.json (stage and state reached) while the run is in flight
 *   runs.jsonl          the run history (`npm run runs`): a `started` line per run, its record when it
 *                       ends; a start without an end is an interrupted run (killed or crashed)
 *   sagemaker.json      models, endpoint configs, endpoints and job names (the endpoint outlives a session)
 *   ssm.json            the parameter store (the production record)
 *   state.json          the running instance: pid, service URLs, the pipeline's, state machines' and
 *                       production record's names (`npm run upload` and the operator CLI find it here)
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export const PROJECT_ROOT = resolve(__dirname, '..');
export const DEFAULT_HOME = join(PROJECT_ROOT, '.reelflow');

export interface HomeLayout {
  readonly root: string;
  readonly s3Dir: string;
  readonly runsDir: string;
  readonly historyFile: string;
  readonly sagemakerFile: string;
  readonly ssmFile: string;
  readonly stateFile: string;
}

/** What a running instance publishes for the other commands. */
export interface InstanceState {
  readonly pid: number;
  readonly startedAt: string;
  readonly bucket: string;
  readonly s3Endpoint: string;
  readonly awsJsonEndpoint: string;
  readonly apiUrl: string;
  readonly recommendUrl: string;
  readonly endpointName: string;
  /** The local CodePipeline's name (`reelflow batches withdraw` starts a run on it). */
  readonly pipelineName: string;
  /** The Step Functions state machines' ARNs (served on awsJsonEndpoint). */
  readonly stateMachines: { readonly retrain: string; readonly deploy: string };
  /** The SSM parameter holding the production record. */
  readonly productionParameterName: string;
  /** The region the local services answer as (`us-east-1`): what SDK clients of the twin pass. */
  readonly region: string;
}

/** Thrown when another instance runs on the same folder. */
export class InstanceRunningError extends Error {
  constructor(home: string, pid: number) {
    super(`another reelflow runs on ${home} (pid ${pid}); stop it first, or use --home <other folder>`);
    this.name = 'InstanceRunningError';
  }
}

export function homeLayout(root: string = DEFAULT_HOME): HomeLayout {
  const abs = resolve(root);
  return {
    root: abs,
    s3Dir: join(abs, 's3'),
    runsDir: join(abs, 'runs'),
    historyFile: join(abs, 'runs.jsonl'),
    sagemakerFile: join(abs, 'sagemaker.json'),
    ssmFile: join(abs, 'ssm.json'),
    stateFile: join(abs, 'state.json'),
  };
}

/** True when the folder holds no earlier state (no objects, no runs, no endpoint). */
export function isFreshHome(layout: HomeLayout): boolean {
  const empty = (dir: string): boolean => !existsSync(dir) || readdirSync(dir).length === 0;
  return empty(layout.s3Dir) && !existsSync(layout.historyFile) && !existsSync(layout.sagemakerFile);
}

/** Deletes every piece of local state (the `--fresh` flag). */
export async function resetHome(layout: HomeLayout): Promise<void> {
  await rm(layout.root, { recursive: true, force: true });
}

/** The running instance on this folder, if one is alive. */
export function runningInstance(layout: HomeLayout): InstanceState | undefined {
  if (!existsSync(layout.stateFile)) return undefined;
  let state: InstanceState;
  try {
    state = JSON.parse(readFileSync(layout.stateFile, 'utf8')) as InstanceState;
  } catch {
    return undefined;
  }
  return isAlive(state.pid) ? state : undefined;
}

export async function writeInstanceState(layout: HomeLayout, state: InstanceState): Promise<void> {
  await mkdir(layout.root, { recursive: true });
  await writeFile(layout.stateFile, `${JSON.stringify(state, null, 2)}\n`);
}

export async function clearInstanceState(layout: HomeLayout): Promise<void> {
  await rm(layout.stateFile, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
