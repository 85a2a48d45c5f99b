import { AlarmNotFoundError, LocalAlarms } from '../../../local/services/alarms';

const THRESHOLDS = {
  endpoint5xxThreshold: 5,
  modelLatencyP99Ms: 500,
  apiErrorRateThreshold: 0.05,
  evaluationPeriods: 2,
};
const PERIOD = 100;
const [ERRORS, LATENCY, API] = [
  'reelflow-recommender-rollback-5xx',
  'reelflow-recommender-rollback-model-latency-p99',
  'reelflow-recommender-rollback-api-5xx-rate',
];

/** Alarms on a clock the test moves. */
function alarms() {
  let now = 0;
  const local = LocalAlarms.rollbackAlarms('reelflow-recommender', THRESHOLDS, PERIOD, () => now);
  return { local, at: (ms: number) => (now = ms) };
}

describe('LocalAlarms', () => {
  it("carries the stack's rollback alarm names and thresholds", () => {
    const { local } = alarms();
    expect(local.names).toEqual([ERRORS, LATENCY, API]);
    const described = local.describeAlarms({});
    expect(described.MetricAlarms.map((a) => [a.AlarmName, a.Threshold, a.ComparisonOperator])).toEqual([
      [ERRORS, 5, 'GreaterThanOrEqualToThreshold'],
      [LATENCY, 500, 'GreaterThanThreshold'],
      [API, 0.05, 'GreaterThanThreshold'],
    ]);
  });

  it('fires when the last evaluationPeriods complete periods all breach, not before', () => {
    const { local, at } = alarms();
    // GIVEN 5 errors in period 0 and 5 in period 1
    at(10);
    for (let i = 0; i < 5; i++) local.record('Invocation5XXErrors', 1);
    at(150);
    for (let i = 0; i < 5; i++) local.record('Invocation5XXErrors', 1);
    // WHEN period 1 is still open THEN only one complete period breaches
    expect(local.state(ERRORS).value).toBe('OK');
    // WHEN period 1 is complete THEN two datapoints breach
    at(210);
    expect(local.state(ERRORS)).toMatchObject({
      value: 'ALARM',
      reason: expect.stringMatching(/2 datapoints \[5, 5\]/),
    });
    // AND two quiet periods later it is OK again (missing data is not breaching)
    at(410);
    expect(local.state(ERRORS).value).toBe('OK');
  });

  it('evaluates p99 latency and the API error rate per period', () => {
    const { local, at } = alarms();
    for (const period of [0, 1]) {
      at(period * PERIOD + 1);
      for (let i = 0; i < 98; i++) local.record('ModelLatency', 3);
      local.record('ModelLatency', 900);
      local.record('ModelLatency', 950);
      for (let i = 0; i < 90; i++) local.record('ApiServerErrors', 0);
      for (let i = 0; i < 10; i++) local.record('ApiServerErrors', 1);
    }
    at(2 * PERIOD + 1);
    expect(local.state(LATENCY)).toMatchObject({
      value: 'ALARM',
      reason: expect.stringContaining('[900, 900]'),
    });
    expect(local.state(API)).toMatchObject({
      value: 'ALARM',
      reason: expect.stringContaining('[0.100, 0.100]'),
    });
    expect(local.firing([ERRORS, LATENCY, API])?.name).toBe(LATENCY);
  });

  it('holds a state set by hand for the evaluation window, then follows the metrics again', () => {
    const { local, at } = alarms();
    at(50);
    local.setAlarmState(LATENCY, 'ALARM', 'set by the test');
    expect(local.state(LATENCY)).toMatchObject({ value: 'ALARM', reason: 'set by the test' });
    expect(local.describeAlarms({ StateValue: 'ALARM' }).MetricAlarms.map((a) => a.AlarmName)).toEqual([
      LATENCY,
    ]);
    at(50 + 2 * PERIOD - 1);
    expect(local.state(LATENCY).value).toBe('ALARM');
    at(50 + 2 * PERIOD);
    expect(local.state(LATENCY).value).toBe('OK');
    expect(local.describeAlarms({ AlarmNames: [LATENCY], StateValue: 'ALARM' }).MetricAlarms).toEqual([]);
  });

  it('fails for an alarm it does not have', () => {
    const { local } = alarms();
    expect(() => local.setAlarmState('nope', 'ALARM', 'x')).toThrow(AlarmNotFoundError);
  });
});
