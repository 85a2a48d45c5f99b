import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { DeployConfig } from '../../pipeline/config';
import { ReelflowFunction } from './reelflow-function';

/** The API's one resource, named as the movie app calls it. */
export const RECOMMEND_RESOURCE = 'recommendEndpoint';
/** The query string parameter API Gateway requires before the function runs. */
const USER_ID_PARAMETER = 'method.request.querystring.user_id';

/** Props of {@link RecommendApi}. */
export interface RecommendApiProps {
  /** The API stage and throttling, the endpoint the function invokes, the log retention. */
  readonly config: Pick<DeployConfig, 'api' | 'endpoint' | 'logRetentionDays'>;
  /** Encrypts the access and function logs. */
  readonly key: kms.IKey;
}

/**
 * The recommend API: API Gateway REST `GET /recommendEndpoint?user_id=N` in front of the recommend
 * Lambda, which invokes the live SageMaker endpoint.
 *
 * API Gateway validates the request first (user_id is a required query string parameter, so a missing
 * one is a clean JSON 400 without invoking the function), the stage is throttled from config, access
 * logs go as JSON to a KMS-encrypted log group, execution logging and X-Ray are on. The function may
 * only invoke the one endpoint, whose ARN is built from the configured name: the endpoint belongs to
 * the deploy workflow, not to this stack.
 */
export class RecommendApi extends Construct {
  readonly api: apigateway.RestApi;
  readonly function: ReelflowFunction;
  /** The full URL of `GET /recommendEndpoint` on the deployed stage. */
  readonly recommendUrl: string;
  readonly stageName: string;

  constructor(scope: Construct, id: string, props: RecommendApiProps) {
    super(scope, id);
    const { api: apiConfig, endpoint, logRetentionDays } = props.config;
    this.stageName = apiConfig.stageName;

    this.function = this.handler(endpoint.name, props.key, logRetentionDays, apiConfig.reservedConcurrency);
    this.api = this.restApi(apiConfig, props.key, logRetentionDays);
    this.addRecommendRoute();
    this.recommendUrl = this.api.urlForPath(`/${RECOMMEND_RESOURCE}`);
    this.acknowledgeFindings();
  }

  /** The recommend function, allowed to invoke the one live endpoint (by its configured name). */
  private handler(
    endpointName: string,
    key: kms.IKey,
    logRetentionDays: number,
    reservedConcurrency: number,
  ): ReelflowFunction {
    const handler = new ReelflowFunction(this, 'Handler', {
      entry: 'functions/api/recommend.ts',
      description: 'reelflow: GET /recommendEndpoint -> SageMaker InvokeEndpoint',
      logKey: key,
      logRetentionDays,
      timeout: Duration.seconds(10),
      reservedConcurrentExecutions: reservedConcurrency,
      environment: { ENDPOINT_NAME: endpointName },
    });
    handler.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['sagemaker:InvokeEndpoint'],
        resources: [
          Stack.of(this).formatArn({
            service: 'sagemaker',
            resource: 'endpoint',
            resourceName: endpointName,
          }),
        ],
      }),
    );
    return handler;
  }

  /** The REST API and its throttled, traced, access-logged stage. */
  private restApi(
    apiConfig: DeployConfig['api'],
    key: kms.IKey,
    logRetentionDays: number,
  ): apigateway.RestApi {
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: logRetentionDays as logs.RetentionDays,
      encryptionKey: key,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    return new apigateway.RestApi(this, 'Api', {
      description: 'reelflow movie recommendations',
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      cloudWatchRole: true,
      deployOptions: {
        stageName: apiConfig.stageName,
        throttlingRateLimit: apiConfig.throttleRateLimit,
        throttlingBurstLimit: apiConfig.throttleBurstLimit,
        loggingLevel: apigateway.MethodLoggingLevel.INFO,
        dataTraceEnabled: false,
        metricsEnabled: true,
        tracingEnabled: true,
        accessLogDestination: new apigateway.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields({
          caller: false,
          httpMethod: true,
          ip: true,
          protocol: true,
          requestTime: true,
          resourcePath: true,
          responseLength: true,
          status: true,
          user: false,
        }),
      },
    });
  }

  /**
   * `GET /recommendEndpoint?user_id=N`, validated by API Gateway before the function runs.
   *
   * API Gateway checks only that user_id is present: a REST API's request validator checks the presence
   * of method request parameters, and its models (JSON Schema) apply to request bodies, which GET has
   * none of. That user_id is a positive integer in range is checked by the function (a JSON 400).
   */
  private addRecommendRoute(): void {
    const validator = new apigateway.RequestValidator(this, 'QueryValidator', {
      restApi: this.api,
      requestValidatorName: 'user-id-required',
      validateRequestParameters: true,
      // GET has no body and no model, so this validates nothing; cdk-nag APIG2 expects both switches on.
      validateRequestBody: true,
    });
    this.api.addGatewayResponse('MissingUserId', {
      type: apigateway.ResponseType.BAD_REQUEST_PARAMETERS,
      statusCode: '400',
      responseHeaders: {
        'Access-Control-Allow-Origin': "'*'",
        'Content-Type': "'application/json'",
      },
      templates: { 'application/json': '{"message":"Missing user_id query string parameter"}' },
    });

    this.api.root
      .addResource(RECOMMEND_RESOURCE)
      .addMethod('GET', new apigateway.LambdaIntegration(this.function), {
        requestParameters: { [USER_ID_PARAMETER]: true },
        requestValidator: validator,
      });
  }

  /** The cdk-nag findings the public, anonymous API keeps, each with its reason. */
  private acknowledgeFindings(): void {
    Validations.of(this.api).acknowledge(
      {
        id: 'AwsSolutions-APIG4',
        reason:
          'Public, read-only recommendation API called anonymously by the movie app, as the original ' +
          'service was; abuse is bounded by stage throttling and request validation.',
      },
      {
        id: 'AwsSolutions-COG4',
        reason: 'Anonymous public API (see APIG4): there is no user pool to authorize against.',
      },
      {
        id: 'AwsSolutions-APIG3',
        reason:
          'No WAF web ACL: the API is throttled per stage and only serves GET with one required ' +
          'parameter (an integer, checked by the function); a web ACL can be associated later without ' +
          'changing this stack.',
      },
    );
    const cloudWatchRole = this.api.node.tryFindChild('CloudWatchRole');
    if (cloudWatchRole) {
      Validations.of(cloudWatchRole).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason:
          'The account-level role API Gateway uses to write execution logs; the AWS managed policy is the ' +
          'documented one for this service role.',
      });
    }
  }

  /** API Gateway's 5XXError for the stage (its Average is the share of requests answered 5XX). */
  metricServerErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.api.metricServerError({ ...props, dimensionsMap: this.stageDimensions() });
  }

  /** API Gateway's 4XXError for the stage. @default statistic Sum */
  metricClientErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.api.metricClientError({ statistic: 'Sum', ...props, dimensionsMap: this.stageDimensions() });
  }

  /** Requests on the stage. @default statistic Sum */
  metricRequests(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.api.metricCount({ statistic: 'Sum', ...props, dimensionsMap: this.stageDimensions() });
  }

  /** End-to-end latency on the stage. @default statistic p99 */
  metricLatency(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.api.metricLatency({ statistic: 'p99', ...props, dimensionsMap: this.stageDimensions() });
  }

  private stageDimensions(): cloudwatch.DimensionsMap {
    return { ApiName: this.api.restApiName, Stage: this.stageName };
  }
}
