import { parseDeployConfig } from '../../pipeline/config';
import { RETRAIN_STATES } from '../../pipeline/retrain-workflow';
import {
  RENDER_ACCOUNT,
  RENDER_PLACEHOLDERS,
  RENDER_REGION,
  renderWorkflowDefinitions,
} from '../../pipeline/render';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../../local/services/local-account';
import {
  allStates,
  StateMachineRunner,
  UnboundTaskError,
  type TaskBindings,
} from '../../local/state-machine-runner';
import { TaskError } from '../../local/task-bindings';
import { TimeScale } from '../../local/time-scale';

const S = RETRAIN_STATES;
const config = parseDeployConfig({});
const { retrain } = renderWorkflowDefinitions(config);
const RUN = 'r0001-20260101-000000';
const p = RENDER_PLACEHOLDERS;
const sm = (action: string): string => `arn:aws:states:::${action}`;

/** Every retrain Task answered with the shape its service returns; calls are recorded by state. */
function bindings(calls: Record<string, unknown>): TaskBindings {
  const record =
    (result: (input: never) => unknown) =>
    (input: unknown, call: { state: string }): unknown => {
      calls[call.state] = input;
      return result(input as never);
    };
  const uri = (path: string) => `s3://reelflow-data/runs/${RUN}/${path}`;
  return {
    [p.planRun]: record(() => ({ mode: 'lambda', inputBytes: 10, reason: 'small' })),
    [p.prepare]: record(() => ({
      runId: RUN,
      training: { fmInstanceCount: 1 },
      names: {
        fmJob: `reelflow-fm-${RUN}`,
        knnJob: `reelflow-knn-${RUN}`,
        model: `reelflow-model-${RUN}`,
        transformModel: `reelflow-tmodel-${RUN}`,
        productionTransformModel: `reelflow-tmodelp-${RUN}`,
        candidateTransformJob: `reelflow-eval-${RUN}`,
        productionTransformJob: `reelflow-evalprod-${RUN}`,
        endpointConfig: `reelflow-config-${RUN}`,
      },
      uris: {
        train: uri('prepared/train/'),
        test: uri('prepared/test/'),
        transformInput: uri('prepared/transform-input/'),
        fmOutput: uri('fm/'),
        knnOutput: uri('knn/'),
        knnTrain: uri('vectors/knn-train/'),
        servingBundle: uri('vectors/serving-bundle.tar.gz'),
        candidateTransformOutput: uri('transform/candidate/'),
        productionTransformOutput: uri('transform/production/'),
      },
      hyperparameters: { fm: { feature_dim: '10' }, knn: { feature_dim: '89' } },
    })),
    [sm('sagemaker:createTrainingJob.sync')]: record((r: { TrainingJobName: string }) => ({
      TrainingJobName: r.TrainingJobName,
      TrainingJobStatus: 'Completed',
      ModelArtifacts: { S3ModelArtifacts: uri(`x/${r.TrainingJobName}/output/model.tar.gz`) },
    })),
    [p.buildVectors]: record(() => ({
      knnTrain: uri('vectors/knn-train/'),
      servingBundle: uri('vectors/b.tar.gz'),
      knnInstanceCount: 1,
    })),
    [sm('sagemaker:createModel')]: record(() => ({ ModelArn: 'arn:aws:sagemaker:::model/m' })),
    [sm('aws-sdk:sagemaker:describeModel')]: record(() => ({ Containers: [] })),
    [sm('aws-sdk:ssm:getParameter')]: record(() => {
      throw new TaskError('Ssm.ParameterNotFoundException', 'Parameter not found.');
    }),
    [sm('sagemaker:createTransformJob.sync')]: record(() => ({ TransformJobStatus: 'Completed' })),
    [p.evaluate]: record(() => ({
      gate: { passed: true, reasons: [] },
      approvalText: 'ok',
      primaryMetric: { name: 'ndcg@10', candidate: 0.2, production: null },
    })),
    [sm('sns:publish')]: record(() => ({ MessageId: '1' })),
    // The Processing path of the data steps (not taken: PlanRun answers mode 'lambda').
    [sm('aws-sdk:s3:putObject')]: record(() => ({ ETag: '"1"' })),
    [sm('aws-sdk:s3:getObject')]: record(() => ({ Body: '{}' })),
    [sm('sagemaker:createProcessingJob.sync')]: record(() => ({ ProcessingJobStatus: 'Completed' })),
  };
}

describe('StateMachineRunner on the rendered retrain definition', () => {
  it('runs the happy path state by state', async () => {
    // WHEN the rendered definition runs with every Task bound
    const calls: Record<string, unknown> = {};
    const runner = new StateMachineRunner(retrain, bindings(calls), new TimeScale(0));
    const result = await runner.run(
      { runId: RUN, trigger: { key: 'ratings/a.csv', versionId: 'v1' } },
      { executionName: `retrain-${RUN}` },
    );

    // THEN every state of the happy path ran, in order, and the Tasks got the rendered parameters
    expect(result.status).toBe('SUCCEEDED');
    expect(result.path).toEqual([
      S.loadConfig,
      S.planRun,
      'PrepareWhere?',
      S.prepare,
      S.hasData,
      S.trainFm,
      'BuildVectorsWhere?',
      S.buildVectors,
      S.trainKnn,
      S.createModel,
      S.createTransformModel,
      S.readProduction,
      S.noProduction,
      S.hasProduction,
      S.transformCandidateOnly,
      'EvaluateWhere?',
      S.evaluate,
      S.gate,
      S.candidateReady,
    ]);
    expect(result.output).toMatchObject({ gate: { passed: true } });
    expect(calls[S.prepare]).toMatchObject({ runId: RUN, resourcePrefix: 'reelflow', config: { seed: 42 } });
    expect(calls[S.trainKnn]).toMatchObject({
      TrainingJobName: `reelflow-knn-${RUN}`,
      AlgorithmSpecification: { TrainingImage: '382416733822.dkr.ecr.us-east-1.amazonaws.com/knn:1' },
    });
    expect(calls[S.evaluate]).toMatchObject({ production: null });
  });

  it('fails loudly when a Task has no binding, naming every unbound state', () => {
    const some = bindings({});
    const partial = Object.fromEntries(
      Object.entries(some).filter(([resource]) => !resource.includes('sagemaker:')),
    );
    const error = (() => {
      try {
        return new StateMachineRunner(retrain, partial, new TimeScale(0));
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(UnboundTaskError);
    expect((error as UnboundTaskError).unbound.map((u) => u.state).sort()).toEqual(
      [
        S.trainFm,
        S.trainKnn,
        S.createModel,
        S.createTransformModel,
        S.describeProductionModel,
        S.createProductionTransformModel,
        S.transformCandidate,
        S.transformProduction,
        S.transformCandidateOnly,
        'PrepareProcessing',
        'BuildVectorsProcessing',
        'EvaluateProcessing',
      ].sort(),
    );
    expect((error as Error).message).toMatch(/nothing is sent to AWS/);
  });

  it("gives Tasks without a TimeoutSeconds Step Functions' default instead of the engine's 60 s, on a copy", () => {
    const runner = new StateMachineRunner(retrain, bindings({}), new TimeScale(0));
    const tasks = allStates(runner.runDefinition).filter((s) => s.state.Type === 'Task');
    const declared = new Map(allStates(retrain).map((s) => [s.name, s.state.TimeoutSeconds]));
    for (const task of tasks) {
      expect(task.state.TimeoutSeconds).toBe(declared.get(task.name) ?? 2_147_483);
    }
    // The training and Processing Tasks declare their own (max runtime + 30 min); the copy keeps it.
    expect(declared.get(S.trainFm)).toBe(14_400 + 1800);
    expect(
      allStates(retrain)
        .filter((s) => s.state.TimeoutSeconds !== undefined)
        .map((s) => s.name)
        .sort(),
    ).toEqual(
      [S.trainFm, S.trainKnn, 'PrepareProcessing', 'BuildVectorsProcessing', 'EvaluateProcessing'].sort(),
    );
  });

  it('answers as the account and region the definitions are rendered for', () => {
    expect([LOCAL_ACCOUNT, LOCAL_REGION]).toEqual([RENDER_ACCOUNT, RENDER_REGION]);
  });
});
