/**
 * The account and region the local services answer as: the ones the rendered workflow definitions
 * pretend to run in (pipeline/render.ts RENDER_ACCOUNT / RENDER_REGION), so ARNs and bucket names in
 * the definitions and in the services' answers agree. Repeated here, not imported, because render.ts
 * loads aws-cdk-lib, which the job workers and the API path do not need; test/local checks they match.
 */
export const LOCAL_ACCOUNT = '123456789012';
export const LOCAL_REGION = 'us-east-1';
