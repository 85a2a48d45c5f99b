/**
 * Environment variables are the only contract between the CDK constructs and a handler (house style 6):
 * read them through this fail-fast getter so a missing binding fails loudly on the first invocation.
 */

/** Thrown when a handler's required environment variable is missing or empty. */
export class MissingEnvironmentError extends Error {
  constructor(name: string) {
    super(`environment variable ${name} is not set`);
    this.name = 'MissingEnvironmentError';
  }
}

/** The value of `name`, or a MissingEnvironmentError. */
export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') throw new MissingEnvironmentError(name);
  return value;
}
