/**
 * Image URIs of the SageMaker built-in algorithms reelflow uses (factorization-machines, knn).
 *
 * Neither aws-cdk-lib nor the SageMaker alpha module resolves built-in algorithm images (region-info
 * only knows the Deep Learning Containers account, a different one), so the account table ships here.
 * Source: aws/sagemaker-python-sdk `src/sagemaker/image_uri_config/{factorization-machines,knn}.json`,
 * version "1": both algorithms share one registry account per region (see
 * /work/shared/research/sagemaker-formats.md §5.4). Training and inference use the same image.
 */
import { Aws, CfnMapping, Fn, Stack, Token } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/** The built-in algorithms this project trains and serves. */
export type BuiltinAlgorithm = 'factorization-machines' | 'knn';

/** The image tag both algorithms publish. */
export const BUILTIN_IMAGE_TAG = '1';

/** ECR registry account of the built-in algorithms, per region. */
export const BUILTIN_ALGORITHM_ACCOUNTS: Readonly<Record<string, string>> = {
  'us-east-1': '382416733822',
  'us-east-2': '404615174143',
  'us-west-1': '632365934929',
  'us-west-2': '174872318107',
  'ca-central-1': '469771592824',
  'ca-west-1': '190319476487',
  'eu-west-1': '438346466558',
  'eu-west-2': '644912444149',
  'eu-west-3': '749696950732',
  'eu-central-1': '664544806723',
  'eu-central-2': '680994064768',
  'eu-north-1': '669576153137',
  'eu-south-1': '257386234256',
  'eu-south-2': '104374241257',
  'ap-northeast-1': '351501993468',
  'ap-northeast-2': '835164637446',
  'ap-northeast-3': '867004704886',
  'ap-south-1': '991648021394',
  'ap-south-2': '628508329040',
  'ap-southeast-1': '475088953585',
  'ap-southeast-2': '712309505854',
  'ap-southeast-3': '951798379941',
  'ap-southeast-4': '106583098589',
  'ap-east-1': '286214385809',
  'af-south-1': '455444449433',
  'me-south-1': '249704162688',
  'me-central-1': '272398656194',
  'il-central-1': '898809789911',
  'sa-east-1': '855470959533',
  'cn-north-1': '390948362332',
  'cn-northwest-1': '387376663083',
  'us-gov-west-1': '226302683700',
  'us-gov-east-1': '237065988967',
};

/** Thrown when a region has no built-in algorithm registry in the table. */
export class UnsupportedRegionError extends Error {
  constructor(region: string) {
    super(`no SageMaker built-in algorithm registry is known for region '${region}'`);
    this.name = 'UnsupportedRegionError';
  }
}

/** The ECR domain of a region: `amazonaws.com`, or `amazonaws.com.cn` in the China regions. */
export function ecrDomain(region: string): string {
  return region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
}

/** The image URI for a concrete region, e.g. `382416733822.dkr.ecr.us-east-1.amazonaws.com/knn:1`. */
export function builtinImageUriFor(region: string, algorithm: BuiltinAlgorithm): string {
  const account = BUILTIN_ALGORITHM_ACCOUNTS[region];
  if (account === undefined) throw new UnsupportedRegionError(region);
  return `${account}.dkr.ecr.${region}.${ecrDomain(region)}/${algorithm}:${BUILTIN_IMAGE_TAG}`;
}

const MAPPING_ID = 'BuiltinAlgorithmRegistry';

/**
 * The image URI for the stack of `scope`. A stack with a concrete region gets a literal URI (and fails
 * synth for an unknown region); a region-agnostic stack gets a CfnMapping lookup on `AWS::Region`
 * with `AWS::URLSuffix`, which is `amazonaws.com.cn` in China.
 */
export function builtinImageUri(scope: Construct, algorithm: BuiltinAlgorithm): string {
  const stack = Stack.of(scope);
  if (!Token.isUnresolved(stack.region)) return builtinImageUriFor(stack.region, algorithm);
  const mapping =
    (stack.node.tryFindChild(MAPPING_ID) as CfnMapping | undefined) ??
    new CfnMapping(stack, MAPPING_ID, {
      mapping: Object.fromEntries(
        Object.entries(BUILTIN_ALGORITHM_ACCOUNTS).map(([region, account]) => [region, { account }]),
      ),
    });
  const account = mapping.findInMap(Aws.REGION, 'account');
  return Fn.join('', [
    account,
    '.dkr.ecr.',
    Aws.REGION,
    '.',
    Aws.URL_SUFFIX,
    `/${algorithm}:${BUILTIN_IMAGE_TAG}`,
  ]);
}
