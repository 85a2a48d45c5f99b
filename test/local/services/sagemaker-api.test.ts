/**
 * DescribeTrainingJob on the twin's SageMaker JSON API: served from the ended jobs the local SageMaker
 * keeps (or an explicit `trainingJobs`), with timestamps as epoch seconds on the wire; not served at all
 * when nothing keeps them (the server then refuses the call, it never says "not found" for a job that ran).
 */
import { sageMakerJsonService } from '../../../local/services/sagemaker-api';
import type { LocalSageMaker } from '../../../local/services/sagemaker';
import { SageMakerApiError, SageMakerJobFailedError } from '../../../local/services/sagemaker-errors';
import { TrainingJobDescriptions } from '../../../local/services/training-jobs';

const ENDED = {
  TrainingJobName: 'reelflow-fm-r1-1',
  TrainingJobStatus: 'Completed',
  CreationTime: '2026-12-02T10:00:00.000Z',
  TrainingStartTime: '2026-12-02T10:00:00.000Z',
  TrainingEndTime: '2026-12-02T10:00:05.000Z',
  LastModifiedTime: '2026-12-02T10:00:05.000Z',
  FinalMetricDataList: [
    { MetricName: 'test:binary_f_beta', Value: 0.7436, Timestamp: '2026-12-02T10:00:05.000Z' },
  ],
};

describe('sageMakerJsonService DescribeTrainingJob', () => {
  it('answers an ended job with epoch-second timestamps, and AWS’s error for an unknown one', () => {
    const jobs = new TrainingJobDescriptions();
    jobs.record(ENDED);
    const service = sageMakerJsonService({} as LocalSageMaker, { trainingJobs: jobs });
    const described = service.operations.DescribeTrainingJob({ TrainingJobName: 'reelflow-fm-r1-1' });
    expect(described).toEqual({
      ...ENDED,
      CreationTime: 1796205600,
      TrainingStartTime: 1796205600,
      TrainingEndTime: 1796205605,
      LastModifiedTime: 1796205605,
      FinalMetricDataList: [{ MetricName: 'test:binary_f_beta', Value: 0.7436, Timestamp: 1796205605 }],
    });
    expect(() => service.operations.DescribeTrainingJob({ TrainingJobName: 'other' })).toThrow(
      expect.objectContaining({ code: 'ValidationException', message: 'Requested resource not found.' }),
    );
  });

  it('reads a local SageMaker that keeps its jobs, and is not served when none does', () => {
    const jobs = new TrainingJobDescriptions();
    jobs.record(ENDED);
    const keeping = {
      describeTrainingJob: (name: string) => jobs.describeTrainingJob(name),
    } as unknown as LocalSageMaker;
    expect(
      sageMakerJsonService(keeping).operations.DescribeTrainingJob({ TrainingJobName: 'reelflow-fm-r1-1' }),
    ).toMatchObject({ TrainingJobStatus: 'Completed', TrainingEndTime: 1796205605 });
    expect(sageMakerJsonService({} as LocalSageMaker).operations).not.toHaveProperty('DescribeTrainingJob');
  });

  it('records a failed job from its error and refuses a nameless description', async () => {
    const jobs = new TrainingJobDescriptions();
    const failed = { ...ENDED, TrainingJobStatus: 'Failed', FailureReason: 'AlgorithmError: x' };
    await expect(jobs.track(Promise.reject(new SageMakerJobFailedError(failed, 'x')))).rejects.toThrow('x');
    expect(jobs.describeTrainingJob('reelflow-fm-r1-1')).toBe(failed);
    expect(() => jobs.record({})).toThrow('a training job description has no name');
    expect(() => jobs.describeTrainingJob('nope')).toThrow(SageMakerApiError);
  });
});
