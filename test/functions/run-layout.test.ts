import { synthApp } from '../infra/synth-app';
import {
  attemptOf,
  decodeTriggerKey,
  encodeTriggerKey,
  MAX_VARIABLE_VALUE,
  RunLayoutError,
  runNames,
} from '../../functions/core/run-layout';

const UUID_RUN = '3f2a9c1e-7b4d-4c2a-9e8f-0123456789ab';
const NAME = /^[a-zA-Z0-9](-*[a-zA-Z0-9])*$/;

describe('runNames', () => {
  it('gives every attempt of a run its own names (a retried stage keeps the run id)', () => {
    const first = runNames(UUID_RUN, 'reelflow', attemptOf('retrain-11111111-0000-4000-8000-000000000001'));
    const retried = runNames(UUID_RUN, 'reelflow', attemptOf('retrain-22222222-0000-4000-8000-000000000002'));
    for (const kind of [
      'fmJob',
      'knnJob',
      'model',
      'candidateTransformJob',
      'productionTransformJob',
    ] as const) {
      expect(first[kind]).not.toBe(retried[kind]);
      expect(first[kind]).toContain(UUID_RUN);
    }
    expect(first.fmJob).toMatch(new RegExp(`^reelflow-fm-${UUID_RUN}-[0-9a-f]{6}$`));
    expect(first.endpointConfigPrefix).toBe(`reelflow-config-${UUID_RUN}`);
  });

  it('derives the attempt from the execution name, the same every time', () => {
    expect(attemptOf('retrain-a')).toBe(attemptOf('retrain-a'));
    expect(attemptOf('retrain-a')).toMatch(/^[0-9a-f]{6}$/);
    expect(() => attemptOf('')).toThrow(RunLayoutError);
  });

  it.each([['reelflow'], ['a'], ['abcdefghij'], ['sixteen-chars-ab']])(
    'keeps every name within 63 characters with prefix %s, the deploy suffix included',
    (prefix) => {
      const names = runNames(UUID_RUN, prefix, attemptOf('x'));
      const all = [
        names.fmJob,
        names.knnJob,
        names.model,
        names.candidateTransformJob,
        names.productionTransformJob,
        `${names.endpointConfigPrefix}-0a1b2c3d`,
      ];
      for (const name of all) {
        expect(name.length).toBeLessThanOrEqual(63);
        expect(name).toMatch(NAME);
      }
      // The whole CodePipeline execution id stays in the names up to a 10-character prefix.
      if (prefix.length <= 10) expect(names.productionTransformJob).toContain(UUID_RUN);
      else expect(names.productionTransformJob).toContain(UUID_RUN.slice(0, 25));
    },
  );

  it('throws for a run id or prefix that cannot name SageMaker resources', () => {
    expect(() => runNames('bad id', 'reelflow', 'abc123')).toThrow(/run id 'bad id'/);
    expect(() => runNames(UUID_RUN, 'reelflow', 'ABC')).toThrow(/attempt/);
    expect(() => runNames(UUID_RUN, 'p'.repeat(40), 'abc123')).toThrow(/leaves/);
  });
});

describe('trigger key encoding', () => {
  const keys = [
    'ratings/u.data',
    'ratings/"quoted" batch.csv',
    'ratings/back\\slash\\\\end.csv',
    'ratings/ünïcödé 評価 🎬.csv',
    "ratings/100% {weird} #1?&=+;,:@$!~*'().csv",
    'ratings/tab\there\nnewline.csv',
  ];

  it.each(keys)('round-trips %j and leaves no quote, backslash or control character', (key) => {
    const value = encodeTriggerKey(key);
    expect(value).not.toMatch(/["\\]/);
    expect([...value].filter((c) => c.charCodeAt(0) < 0x20)).toEqual([]);
    expect(value.length).toBeLessThanOrEqual(MAX_VARIABLE_VALUE);
    expect(decodeTriggerKey(value)).toBe(key);
  });

  it('leaves a plain key readable', () => {
    expect(encodeTriggerKey('ratings/2026-11-25-batch-1.csv')).toBe('ratings/2026-11-25-batch-1.csv');
  });

  it('cuts a key too long for a pipeline variable at a whole character, with a marker', () => {
    const value = encodeTriggerKey(`ratings/${'é'.repeat(400)}`);
    expect(value.length).toBeLessThanOrEqual(MAX_VARIABLE_VALUE);
    expect(value.endsWith('...(truncated)')).toBe(true);
    expect(decodeTriggerKey(value)).toMatch(/^ratings\/é+\.\.\.\(truncated\)$/);
  });

  it('returns a value that is no URI encoding as it is (a variable typed in the console)', () => {
    expect(decodeTriggerKey('manual')).toBe('manual');
    expect(decodeTriggerKey('100%')).toBe('100%');
  });

  it("yields valid JSON when CodePipeline substitutes it into the Retrain action's input", () => {
    // GIVEN the Retrain action's input template as the stack synthesizes it
    const { template } = synthApp({});
    const [pipeline] = Object.values(template.findResources('AWS::CodePipeline::Pipeline'));
    const retrain = (
      pipeline.Properties.Stages as { Name: string; Actions: { Configuration: { Input: string } }[] }[]
    ).find((s) => s.Name === 'Retrain')!.Actions[0].Configuration.Input;
    expect(retrain).toContain('#{variables.triggerKey}');
    for (const key of keys) {
      // WHEN CodePipeline substitutes the variables as they are
      const input = retrain
        .replace('#{variables.triggerKey}', encodeTriggerKey(key))
        .replace('#{variables.triggerVersionId}', 'v1')
        .replace('#{codepipeline.PipelineExecutionId}', 'run-1');
      // THEN the input parses and the decoded key is the upload's
      const parsed = JSON.parse(input) as { trigger: { key: string } };
      expect(decodeTriggerKey(parsed.trigger.key)).toBe(key);
    }
  });
});
