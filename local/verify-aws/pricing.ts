/**
 * The cost estimate of `reelflow verify-aws`: instance-seconds times SageMaker's on-demand list price.
 * An estimate: us-east-1 prices (other regions differ by a few percent to ~30 %), no S3, KMS, CloudWatch
 * or data transfer (cents at most for a few hundred rows), training volumes ignored.
 */

/** When the prices below were taken, and from where. */
export const PRICES_AS_OF = '2026-12-02, us-east-1, SageMaker on-demand pricing page';

/** USD per instance-hour, by use and instance type. */
export const PRICE_PER_HOUR: Readonly<Record<'training' | 'hosting', Readonly<Record<string, number>>>> = {
  training: {
    'ml.m5.large': 0.115,
    'ml.m5.xlarge': 0.23,
    'ml.m5.2xlarge': 0.461,
    'ml.m5.4xlarge': 0.922,
    'ml.c5.xlarge': 0.204,
    'ml.c5.2xlarge': 0.408,
  },
  hosting: {
    'ml.t2.medium': 0.056,
    'ml.m5.large': 0.115,
    'ml.m5.xlarge': 0.23,
    'ml.m5.2xlarge': 0.461,
    'ml.c5.large': 0.102,
    'ml.c5.xlarge': 0.204,
  },
};

/** One billed use of instances. */
export interface InstanceUsage {
  readonly what: string;
  readonly use: 'training' | 'hosting';
  readonly instanceType: string;
  readonly instances: number;
  readonly seconds: number;
}

export interface CostEstimate {
  readonly usd: number;
  /** Usages whose instance type is not in the table (not counted). */
  readonly unpriced: readonly string[];
}

export function estimateCost(usages: readonly InstanceUsage[]): CostEstimate {
  let usd = 0;
  const unpriced: string[] = [];
  for (const usage of usages) {
    const price = PRICE_PER_HOUR[usage.use][usage.instanceType];
    if (price === undefined) unpriced.push(`${usage.what} (${usage.instanceType})`);
    else usd += (price * usage.instances * usage.seconds) / 3600;
  }
  return { usd, unpriced };
}
