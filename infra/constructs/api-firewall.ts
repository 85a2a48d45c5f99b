/**
 * The recommend API's optional AWS WAF web ACL (config `api.waf`): a rate-based rule per client IP and a
 * check that `user_id` is a positive integer, associated with the API's stage.
 *
 * The user_id rule exists because API Gateway cannot check it: a REST API's request validator checks only
 * that a query string parameter is present (models apply to bodies). With the web ACL on, a malformed
 * user_id is answered 400 at the edge, before the function runs; the function keeps its own check.
 */
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';

/** The query argument of the recommend resource. */
const USER_ID = 'user_id';
/**
 * A user id the API can serve: a positive integer without leading zeros, up to 9 digits (the largest
 * servable id, MAX_TAGGED_USER_ID, has 8; the function answers ids above it with its own 400).
 */
export const USER_ID_PATTERN = '^[1-9][0-9]{0,8}$';
/** The 400 body of a request whose user_id is not a positive integer. */
export const INVALID_USER_ID_BODY = '{"message":"user_id must be a positive integer"}';
/** The 429 body of a client IP over the rate limit (API Gateway's own throttling body). */
const RATE_LIMITED_BODY = '{"message":"Too Many Requests"}';

/** Props of {@link ApiFirewall}. */
export interface ApiFirewallProps {
  /** The stage the web ACL protects. */
  readonly stage: apigateway.Stage;
  /** Requests a client IP may send in any 5-minute window before it is blocked (10 to 2e9). */
  readonly rateLimitPer5Min: number;
  /** Prefix of the CloudWatch metric names of the web ACL and its rules. */
  readonly metricPrefix: string;
}

/**
 * A REGIONAL web ACL that allows by default and blocks:
 *
 * 1. `RateLimitPerIp`: an IP over `rateLimitPer5Min` requests in 5 minutes (429);
 * 2. `UserIdIsPositiveInteger`: a request whose `user_id` query argument is missing or not
 *    {@link USER_ID_PATTERN} (400, `{"message":"user_id must be a positive integer"}`).
 *
 * CloudWatch metrics and sampled requests are on for the ACL and each rule.
 */
export class ApiFirewall extends Construct {
  readonly webAcl: wafv2.CfnWebACL;

  constructor(scope: Construct, id: string, props: ApiFirewallProps) {
    super(scope, id);
    const visibility = (name: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      sampledRequestsEnabled: true,
      metricName: `${props.metricPrefix}-${name}`,
    });

    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      description: 'reelflow recommend API: rate limit per IP, the user id must be a positive integer',
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('api'),
      customResponseBodies: {
        InvalidUserId: { contentType: 'APPLICATION_JSON', content: INVALID_USER_ID_BODY },
        RateLimited: { contentType: 'APPLICATION_JSON', content: RATE_LIMITED_BODY },
      },
      rules: [
        {
          name: 'RateLimitPerIp',
          priority: 0,
          statement: {
            rateBasedStatement: {
              limit: props.rateLimitPer5Min,
              aggregateKeyType: 'IP',
              evaluationWindowSec: 300,
            },
          },
          action: { block: { customResponse: { responseCode: 429, customResponseBodyKey: 'RateLimited' } } },
          visibilityConfig: visibility('rate-limit-per-ip'),
        },
        {
          name: 'UserIdIsPositiveInteger',
          priority: 1,
          statement: {
            notStatement: {
              statement: {
                regexMatchStatement: {
                  regexString: USER_ID_PATTERN,
                  fieldToMatch: { singleQueryArgument: { Name: USER_ID } },
                  textTransformations: [{ priority: 0, type: 'NONE' }],
                },
              },
            },
          },
          action: {
            block: { customResponse: { responseCode: 400, customResponseBodyKey: 'InvalidUserId' } },
          },
          visibilityConfig: visibility('invalid-user-id'),
        },
      ],
    });

    new wafv2.CfnWebACLAssociation(this, 'Association', {
      resourceArn: props.stage.stageArn,
      webAclArn: this.webAcl.attrArn,
    });
  }
}
