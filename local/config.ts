/**
 * The local runtime's configuration: the deploy config `cdk deploy` reads (`cdk.json` context.reelflow,
 * parsed and validated by pipeline/config.ts), so both train, gate and deploy alike. `--config <file.json>`
 * overrides parts of it: the file holds a partial `reelflow` block (or a cdk.json-shaped
 * `{"context": {"reelflow": ...}}`), deep-merged over cdk.json's (objects merge, arrays and values
 * replace), then validated as a whole.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CONFIG_CONTEXT_KEY, parseDeployConfig, type DeployConfig } from '../pipeline/config';
import { PROJECT_ROOT } from './home';

export const CDK_JSON = join(PROJECT_ROOT, 'cdk.json');

/** Thrown for a config file that cannot be read as JSON. */
export class ConfigFileError extends Error {
  constructor(file: string, reason: string) {
    super(`cannot read the config file ${file}: ${reason}`);
    this.name = 'ConfigFileError';
  }
}

export interface LoadConfigOptions {
  /** A JSON file with overrides. */
  readonly configFile?: string;
  /** Overrides in code (tests, benchmarks), applied last. */
  readonly overrides?: unknown;
  /** @default the project's cdk.json */
  readonly cdkJson?: string;
}

export async function loadDeployConfig(options: LoadConfigOptions = {}): Promise<DeployConfig> {
  const cdk = (await readJson(options.cdkJson ?? CDK_JSON)) as { context?: Record<string, unknown> };
  let raw: unknown = cdk.context?.[CONFIG_CONTEXT_KEY] ?? {};
  if (options.configFile) raw = deepMerge(raw, reelflowBlock(await readJson(options.configFile)));
  if (options.overrides !== undefined) raw = deepMerge(raw, options.overrides);
  return parseDeployConfig(raw);
}

/**
 * The config the local runtime runs with under `npm start`: the tuning search runs when `tuning.local`
 * (default true) asks for it, even if `tuning.enabled` (the AWS setting) is off, since it is cheap here.
 * Not with `ml.trainer` 'ials': the search tunes FM (the deploy config refuses the two together).
 */
export function withLocalTuning(config: DeployConfig): DeployConfig {
  const enabled = config.tuning.enabled || (config.tuning.local && config.ml.trainer === 'fm');
  return enabled === config.tuning.enabled ? config : { ...config, tuning: { ...config.tuning, enabled } };
}

/** `b` merged over `a`: plain objects merge key by key; anything else in `b` replaces. */
export function deepMerge(a: unknown, b: unknown): unknown {
  if (!isPlainObject(a) || !isPlainObject(b)) return b === undefined ? a : b;
  const out: Record<string, unknown> = { ...a };
  for (const [key, value] of Object.entries(b)) out[key] = deepMerge(a[key], value);
  return out;
}

function reelflowBlock(value: unknown): unknown {
  if (isPlainObject(value) && isPlainObject(value.context) && CONFIG_CONTEXT_KEY in value.context) {
    return value.context[CONFIG_CONTEXT_KEY];
  }
  if (isPlainObject(value) && isPlainObject(value[CONFIG_CONTEXT_KEY])) return value[CONFIG_CONTEXT_KEY];
  return value;
}

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigFileError(file, (error as Error).message);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigFileError(file, (error as Error).message);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
