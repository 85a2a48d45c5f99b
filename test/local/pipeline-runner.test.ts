import { existsSync, mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fixedApprover, promptApprover, type Approver } from '../../local/approval';
import { LocalPipeline, type PipelineEvent } from '../../local/pipeline-runner';
import { formatRuns, PROGRESS_FILE, readRuns } from '../../local/run-history';
import { LocalCodePipelineApi } from '../../local/services/codepipeline';
import { StateMachineRunner, type Definition } from '../../local/state-machine-runner';
import { TimeScale } from '../../local/time-scale';

/** One-Task workflows whose Task the test releases run by run. */
const workflow = (resource: string): Definition => ({
  StartAt: 'Work',
  States: { Work: { Type: 'Task', Resource: `arn:aws:states:::local:${resource}`, End: true } },
});

function pipeline(approver: Approver = fixedApprover(true, 'test')) {
  const home = mkdtempSync(join(tmpdir(), 'pipeline-'));
  const gates = new Map<string, () => void>();
  const entered: string[] = [];
  const names: string[] = [];
  const release = (runId: string): void => gates.get(runId)!();
  const whenRetraining = async (runId: string): Promise<void> => {
    while (!gates.has(runId)) await new Promise((resolve) => setTimeout(resolve, 1));
  };
  const evaluation = {
    gate: { passed: true },
    approvalText: 'ok',
    primaryMetric: { name: 'ndcg@10', candidate: 0.3, production: null },
  };
  const retrain = new StateMachineRunner(
    workflow('retrain'),
    {
      'arn:aws:states:::local:retrain': (_input, call) =>
        new Promise((resolve) => {
          // `retrain-<runId>-<attempt>`: a retry runs the same run id under a new execution name.
          const runId = call.executionName.replace(/^retrain-/, '').replace(/-\d+$/, '');
          names.push(call.executionName);
          entered.push(runId);
          gates.set(runId, () => resolve(evaluation));
        }),
    },
    new TimeScale(0),
  );
  const deploy = new StateMachineRunner(
    workflow('deploy'),
    { 'arn:aws:states:::local:deploy': () => ({}) },
    new TimeScale(0),
  );
  let seq = 0;
  const codePipeline = new LocalCodePipelineApi('reelflow-release', () => 'unused');
  const events: PipelineEvent[] = [];
  const local = new LocalPipeline({
    name: 'reelflow-release',
    retrain: () => retrain,
    deploy: () => deploy,
    codePipeline,
    summarize: async (event) => {
      codePipeline.service().operations.PutJobSuccessResult({
        jobId: event['CodePipeline.job'].id,
        outputVariables: { approvalText: 'candidate beats production', reportUrl: 'https://console/x' },
      });
    },
    approver,
    readObject: async () => undefined,
    runsDir: join(home, 'runs'),
    historyFile: join(home, 'runs.jsonl'),
    servingVersion: () => null,
    nextRunId: () => `run-${++seq}`,
    onEvent: (event) => events.push(event),
  });
  return {
    local,
    codePipeline,
    release,
    whenRetraining,
    entered,
    names,
    events,
    historyFile: join(home, 'runs.jsonl'),
  };
}

describe('LocalPipeline', () => {
  it('races the approver with PutApprovalResult: the API decides first, the prompt is aborted', async () => {
    // GIVEN a run waiting at a terminal prompt
    const input = new PassThrough();
    const output = new PassThrough();
    let shown = '';
    output.on('data', (chunk: Buffer) => (shown += chunk.toString()));
    const { local, codePipeline, release, whenRetraining, events } = pipeline(promptApprover(input, output));
    const run = local.start({ triggerKey: 'ratings/a.csv', triggerVersionId: 'v1' });
    await whenRetraining(run.runId);
    release(run.runId);
    const api = codePipeline.service().operations;
    let token: string | undefined;
    while (!token) {
      const state = (await api.GetPipelineState({ name: 'reelflow-release' })) as {
        stageStates: { stageName: string; actionStates: { latestExecution?: { token?: string } }[] }[];
      };
      token = state.stageStates.find((s) => s.stageName === 'Approve')?.actionStates[1].latestExecution
        ?.token;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(shown).toContain(`npx reelflow approve ${run.runId}`);
    // WHEN the API rejects it
    await api.PutApprovalResult({
      pipelineName: 'reelflow-release',
      stageName: 'Approve',
      actionName: 'Approve',
      result: { status: 'Rejected', summary: 'not this one' },
      token,
    });
    // THEN the run ends Rejected by the API's decision, the only one taken (the prompt was aborted)
    expect(await run.done).toMatchObject({
      status: 'Rejected',
      reason: expect.stringMatching(/PutApprovalResult.*not this one/),
    });
    expect(events.filter((e) => e.type === 'approval-decided')).toEqual([
      expect.objectContaining({
        decision: expect.objectContaining({
          approved: false,
          by: expect.stringMatching(/^PutApprovalResult/),
        }),
      }),
    ]);
    const actions = (await api.ListActionExecutions({
      pipelineName: 'reelflow-release',
      filter: { pipelineExecutionId: run.runId },
    })) as { actionExecutionDetails: { actionName: string; status: string }[] };
    expect(actions.actionExecutionDetails.find((a) => a.actionName === 'Approve')?.status).toBe('Failed');
  });

  it('lets the configured approver win the race: the token is then spent', async () => {
    const { local, codePipeline, release, whenRetraining } = pipeline(fixedApprover(true, 'test'));
    const run = local.start({ triggerKey: 'ratings/a.csv', triggerVersionId: 'v1' });
    await whenRetraining(run.runId);
    release(run.runId);
    expect(await run.done).toMatchObject({ status: 'Succeeded' });
    const api = codePipeline.service().operations;
    const state = (await api.GetPipelineState({ name: 'reelflow-release' })) as {
      stageStates: {
        stageName: string;
        actionStates: { actionName: string; latestExecution?: { status: string; token?: string } }[];
      }[];
    };
    const approve = state.stageStates.find((s) => s.stageName === 'Approve')!.actionStates[1];
    expect(approve).toMatchObject({ actionName: 'Approve', latestExecution: { status: 'Succeeded' } });
    expect(approve.latestExecution?.token).toBeUndefined();
    expect(() =>
      api.PutApprovalResult({
        pipelineName: 'reelflow-release',
        stageName: 'Approve',
        actionName: 'Approve',
        result: { status: 'Approved', summary: 'late' },
        token: '00000000-0000-4000-8000-000000000000',
      }),
    ).toThrow(expect.objectContaining({ code: 'ApprovalAlreadyCompletedException' }));
  });

  it('retries a rejected run at its stage with the same run id and a new execution name, like a stage Retry', async () => {
    // GIVEN a run rejected at approval
    let approve = false;
    const { local, release, whenRetraining, names } = pipeline({
      decide: async () => ({ approved: approve, by: 'test' }),
    } as Approver);
    const run = local.start({ triggerKey: 'ratings/%22q%22%20a.csv', triggerVersionId: 'v1' });
    await whenRetraining(run.runId);
    release(run.runId);
    expect(await run.done).toMatchObject({ status: 'Rejected', stage: 'Approve' });
    // WHEN it is retried
    approve = true;
    const retried = await local.retry(run.runId);
    // THEN it goes on from Approve with the same run id and the decoded trigger
    expect(await retried.done).toMatchObject({ runId: run.runId, status: 'Succeeded', stage: 'Deploy' });
    expect(retried.trigger.key).toBe('ratings/"q" a.csv');
    expect(names).toEqual([`retrain-${run.runId}-1`]);
    await expect(local.retry(run.runId)).rejects.toThrow(/only a failed stage can be retried/);
  });

  it('runs Source, Checks (skipped locally), Retrain, Approve and Deploy, and records the run', async () => {
    const { local, release, whenRetraining, events, historyFile } = pipeline();
    const run = local.start({ triggerKey: 'ratings/a.csv', triggerVersionId: 'v1' });
    await whenRetraining(run.runId);
    release(run.runId);
    const record = await run.done;

    expect(record).toMatchObject({
      runId: 'run-1',
      status: 'Succeeded',
      stage: 'Deploy',
      trigger: { key: 'ratings/a.csv', versionId: 'v1' },
    });
    const stages = events.flatMap((e) => (e.type === 'stage-ended' ? [`${e.stage}:${e.outcome}`] : []));
    expect(stages).toEqual([
      'Source:succeeded',
      'Checks:skipped',
      'Retrain:succeeded',
      'Approve:succeeded',
      'Deploy:succeeded',
    ]);
    const approval = events.find((e) => e.type === 'approval-requested');
    expect(approval?.type === 'approval-requested' && approval.request.approvalText).toBe(
      'candidate beats production',
    );
    expect(Object.keys(record.timings.stages)).toEqual(['Source', 'Checks', 'Retrain', 'Approve', 'Deploy']);
    expect(await readRuns(historyFile)).toEqual([record]);
    expect(formatRuns([record])).toMatch(
      /^run\s+started\s+status.*\nrun-1 .* Succeeded\s+Deploy\s+ratings\/a\.csv\s+ndcg@10\s+0\.3000/,
    );
  });

  it('skips every stage after Source when no upload started the run, as the stage conditions do on AWS', async () => {
    // GIVEN the execution CodePipeline starts on creation: the pipeline variables keep their defaults
    const { local, entered, events } = pipeline();
    // WHEN it runs
    const record = await local.start({}).done;
    // THEN nothing retrains, approves or deploys, and the run ends NothingToDo, not Failed
    expect(record).toMatchObject({ status: 'NothingToDo', stage: 'Checks' });
    expect(record.reason).toMatch(/no upload started this run/);
    expect(entered).toEqual([]);
    const stages = events.flatMap((e) => (e.type === 'stage-ended' ? [`${e.stage}:${e.outcome}`] : []));
    expect(stages).toEqual(['Source:succeeded', 'Checks:skipped']);
  });

  it('SUPERSEDED: a newer execution replaces the one waiting at a busy stage; no stage runs two', async () => {
    const { local, release, whenRetraining, entered } = pipeline();
    // GIVEN run 1 in Retrain
    const first = local.start({ triggerKey: 'ratings/1.csv' });
    await whenRetraining(first.runId);
    // WHEN runs 2 and 3 arrive while it trains
    const second = local.start({ triggerKey: 'ratings/2.csv' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const third = local.start({ triggerKey: 'ratings/3.csv' });
    // THEN run 2, waiting at the Retrain boundary, is superseded by run 3
    const superseded = await second.done;
    expect(superseded).toMatchObject({ status: 'Superseded', stage: 'Retrain' });
    expect(entered).toEqual(['run-1']);
    // AND run 3 trains only once run 1 has left Retrain
    release(first.runId);
    await whenRetraining(third.runId);
    release(third.runId);
    expect((await first.done).status).toBe('Succeeded');
    expect((await third.done).status).toBe('Succeeded');
    expect(entered).toEqual(['run-1', 'run-3']);
  });

  it('ends a run Rejected when the approver rejects it, and never deploys it', async () => {
    const { local, release, whenRetraining, events } = pipeline(fixedApprover(false, '--reject'));
    const run = local.start({ triggerKey: 'ratings/a.csv' });
    await whenRetraining(run.runId);
    release(run.runId);
    const record = await run.done;
    expect(record).toMatchObject({
      status: 'Rejected',
      stage: 'Approve',
      reason: 'rejected at approval by --reject',
      trigger: { key: 'ratings/a.csv' },
    });
    expect(events.some((e) => e.type === 'stage-started' && e.stage === 'Deploy')).toBe(false);
  });

  it('stops cleanly: a waiting execution ends Stopped', async () => {
    const { local, whenRetraining } = pipeline();
    const first = local.start({ triggerKey: 'ratings/a.csv' });
    await whenRetraining(first.runId);
    const second = local.start({ triggerKey: 'ratings/b.csv' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await local.stop();
    expect((await second.done).status).toBe('Stopped');
    expect((await first.done).status).toBe('Stopped');
  });

  it('records a start line and the stage it reached; a stopped run still ends Stopped, not Interrupted', async () => {
    // GIVEN a run held in its Retrain workflow
    const { local, whenRetraining, historyFile } = pipeline();
    const run = local.start({ triggerKey: 'ratings/a.csv', triggerVersionId: 'v1' });
    await whenRetraining(run.runId);
    // THEN the history already has it, at Retrain/Work, Running (this process is alive)
    for (let i = 0; i < 200; i++) {
      const [read] = await readRuns(historyFile);
      if (read?.failedState === 'Work') break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const lines = (await readFile(historyFile, 'utf8')).trim().split('\n');
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([
      expect.objectContaining({ event: 'started', runId: 'run-1', attempt: 1, pid: process.pid }),
    ]);
    expect(await readRuns(historyFile)).toEqual([
      expect.objectContaining({ runId: 'run-1', status: 'Running', stage: 'Retrain', failedState: 'Work' }),
    ]);
    // WHEN the runtime stops (Ctrl-C)
    await local.stop();
    // THEN the run ends Stopped, as before, and the progress file is gone
    expect(await run.done).toMatchObject({ status: 'Stopped', stage: 'Retrain' });
    expect(await readRuns(historyFile)).toEqual([expect.objectContaining({ status: 'Stopped' })]);
    expect(existsSync(join(dirname(historyFile), 'runs', 'run-1', PROGRESS_FILE))).toBe(false);
  });
});
