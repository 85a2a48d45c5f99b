/**
 * The trials of a search: trial 0 is the baseline (the ML config as it is), the others are seeded
 * random draws from the search space. Random search, not a model-based optimiser: with a handful of
 * trials it is as good as anything (Bergstra & Bengio, 2012), it parallelises fully (every trial is known
 * before the first one trains, which a Map state needs), and it is repeatable from the seed.
 *
 * Because the baseline is a trial and the best trial wins on validation, a search never returns a
 * configuration worse than the default on the validation split.
 */
import { mlConfigSchema, type MlConfig } from '../config';
import { Rng } from '../random';
import type { ParameterRange, ParameterValue, TuningConfig } from './config';

/** One trial: its settings (by ML config path) and the ML config it trains with. */
export interface Trial {
  /** `trial-00` (the baseline), `trial-01`, ... */
  readonly id: string;
  readonly baseline: boolean;
  /** The searched parameters' values; for the baseline, the config's own values of those parameters. */
  readonly settings: Readonly<Record<string, ParameterValue>>;
  readonly ml: MlConfig;
}

/** The trials of `tuning` over `ml`, deterministic for a seed; identical draws are drawn again. */
export function planTrials(tuning: TuningConfig, ml: MlConfig, seed: number = ml.seed): Trial[] {
  const names = Object.keys(tuning.space).sort();
  const baselineSettings = Object.fromEntries(names.map((name) => [name, valueAt(ml, name)]));
  const trials: Trial[] = [{ id: trialId(0), baseline: true, settings: baselineSettings, ml }];
  const seen = new Set([JSON.stringify(baselineSettings)]);
  const rng = new Rng(seed ^ 0x7075_6e65);
  // A small categorical space can have fewer distinct points than trials: stop rather than loop.
  for (let attempt = 0; trials.length < tuning.trials && attempt < tuning.trials * 50; attempt++) {
    const settings = Object.fromEntries(names.map((name) => [name, draw(tuning.space[name], rng)]));
    const key = JSON.stringify(settings);
    if (seen.has(key)) continue;
    seen.add(key);
    trials.push({ id: trialId(trials.length), baseline: false, settings, ml: withSettings(ml, settings) });
  }
  return trials;
}

/** The ML config with `settings` applied (validated: a value the config refuses throws). */
export function withSettings(ml: MlConfig, settings: Readonly<Record<string, ParameterValue>>): MlConfig {
  const raw = structuredClone(ml) as unknown as Record<string, Record<string, unknown>>;
  for (const [name, value] of Object.entries(settings)) {
    const [section, key] = name.split('.');
    raw[section] = { ...raw[section], [key]: value };
  }
  return mlConfigSchema.parse(raw);
}

function valueAt(ml: MlConfig, name: string): ParameterValue {
  const [section, key] = name.split('.');
  const value = (ml as unknown as Record<string, Record<string, unknown>>)[section]?.[key];
  if (typeof value !== 'number' && typeof value !== 'string') {
    throw new Error(`tuning parameter ${name} has no value in the ML config`);
  }
  return value;
}

/** One value of `range`. Continuous values keep 3 significant digits, so settings read cleanly. */
export function draw(range: ParameterRange, rng: Rng): ParameterValue {
  if (range.type === 'categorical') return range.values[rng.int(range.values.length)];
  const u = rng.next();
  const x =
    range.scale === 'log'
      ? Math.exp(Math.log(range.min) + u * (Math.log(range.max) - Math.log(range.min)))
      : range.min + u * (range.max - range.min);
  if (range.type === 'integer') return Math.min(range.max, Math.max(range.min, Math.round(x)));
  return Math.min(range.max, Math.max(range.min, Number(x.toPrecision(3))));
}

function trialId(index: number): string {
  return `trial-${String(index).padStart(2, '0')}`;
}
