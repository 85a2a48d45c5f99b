/**
 * The documented contracts of the two SageMaker built-in algorithms reelflow trains (factorization
 * machines, k-NN), as data: `factorization-machines.json` and `knn.json` hold each algorithm's
 * hyperparameter table, training channels and content types, and inference request/Accept types,
 * transcribed from the AWS documentation pages they name. This module loads and checks them, and
 * validates a request against them with the words the built-in uses, so that
 *
 * - the config refuses a key the built-in does not document (config.ts),
 * - `prepare` sends only documented hyperparameters (prepare.ts, tested against these lists),
 * - the local training jobs and the local k-NN container refuse what the real ones refuse
 *   (local/services/training-jobs.ts, local/services/model-containers.ts via core/knn/codec.ts).
 *
 * Failure wording. A built-in training job with a bad hyperparameter is created, then ends `Failed`
 * with a FailureReason from its JSON-schema validation, e.g.
 * `ClientError: Additional hyperparameters are not allowed (u'optimizer' was unexpected) (caused by ValidationError)`.
 * Sources of the forms used here: the public record of a built-in job's FailureReason
 * ("ClientError: Additional hyperparameters are not allowed ('augmentation type' was unexpected)", an
 * image-classification notebook comment) and "ClientError: No value(s) were specified for
 * 'mini_batch_size' which are required hyperparameter(s) (caused by ..." (aws/sagemaker-python-sdk
 * issue #132, PCA); the enum/type forms follow the same first-party validator's wording (jsonschema
 * messages with "properties" read "hyperparameters"). The `u'...'` quoting is the Python 2 repr the
 * legacy FM/k-NN images print (the form in the review of the first AWS run); newer images print
 * `'optimizer'`. Channel and content-type failures are worded here in the same `ClientError: ...` form;
 * no exact public text for them was found.
 */
import { z } from 'zod';
import fmJson from './factorization-machines.json';
import knnJson from './knn.json';

const hyperparameterSchema = z.strictObject({
  name: z.string().regex(/^[a-z_][a-z0-9_]*$/),
  required: z.boolean(),
  type: z.enum(['integer', 'float', 'enum']),
  /** Smallest valid value (inclusive) of an integer or float. */
  min: z.number().optional(),
  /** The valid values of an enum (strings, as in the request). */
  values: z.array(z.string()).nonempty().optional(),
  /** Literal strings valid besides the numbers (k-NN `faiss_index_ivf_nlists`: `auto`). */
  alsoAllowed: z.array(z.string()).optional(),
  /** Required when this other hyperparameter is set. */
  requiredWith: z.string().optional(),
  /** Must be below the value of this other hyperparameter. */
  lessThan: z.string().optional(),
  /** The built-in's default, as a string; null when the docs give none ("-"). */
  default: z.string().nullable(),
  description: z.string(),
});

const contractSchema = z
  .strictObject({
    $comment: z.string(),
    algorithm: z.enum(['factorization-machines', 'knn']),
    /** The ECR repository name of the built-in image (`<registry>/<image>:1`). */
    image: z.string(),
    /** Documentation pages, by what they document. */
    sources: z.record(z.string(), z.url()),
    hyperparameters: z.array(hyperparameterSchema).nonempty(),
    /** Cross-field rules: when `when.name` is `when.value`, `name` must not be one of `notIn`. */
    constraints: z
      .array(
        z.strictObject({
          when: z.strictObject({ name: z.string(), value: z.string() }),
          name: z.string(),
          notIn: z.array(z.string()).nonempty(),
          description: z.string(),
        }),
      )
      .optional(),
    training: z.strictObject({
      inputModes: z.array(z.enum(['File', 'Pipe'])).nonempty(),
      channels: z
        .array(
          z.strictObject({
            name: z.string(),
            required: z.boolean(),
            contentTypes: z.array(z.string()).nonempty(),
          }),
        )
        .nonempty(),
    }),
    inference: z.strictObject({
      requestContentTypes: z.array(z.string()).nonempty(),
      acceptTypes: z.array(z.string()).nonempty(),
    }),
  })
  .superRefine((contract, ctx) => {
    const names = contract.hyperparameters.map((h) => h.name);
    if (new Set(names).size !== names.length) ctx.addIssue({ code: 'custom', message: 'duplicate names' });
    for (const h of contract.hyperparameters) {
      if ((h.type === 'enum') !== (h.values !== undefined)) {
        ctx.addIssue({ code: 'custom', message: `${h.name}: values belong to enums only` });
      }
      for (const other of [h.requiredWith, h.lessThan]) {
        if (other !== undefined && !names.includes(other)) {
          ctx.addIssue({ code: 'custom', message: `${h.name} refers to unknown ${other}` });
        }
      }
    }
  });

/** One row of a built-in's documented hyperparameter table. */
export type BuiltinHyperparameter = z.infer<typeof hyperparameterSchema>;
/** A built-in algorithm's documented contract (one of the JSON files next to this module). */
export type BuiltinContract = z.infer<typeof contractSchema>;
/** The built-in algorithms reelflow uses, by image name. */
export type BuiltinAlgorithmName = BuiltinContract['algorithm'];

function load(raw: unknown, file: string): BuiltinContract {
  const result = contractSchema.safeParse(raw);
  if (!result.success) {
    throw new Error(
      `functions/core/algorithms/${file} is not a valid contract: ${z.prettifyError(result.error)}`,
    );
  }
  return result.data;
}

/** The SageMaker built-in Factorization Machines, as documented. */
export const FACTORIZATION_MACHINES: BuiltinContract = load(fmJson, 'factorization-machines.json');
/** The SageMaker built-in k-NN, as documented. */
export const KNN: BuiltinContract = load(knnJson, 'knn.json');

/** The contract of a built-in by its image name. */
export function builtinContract(algorithm: BuiltinAlgorithmName): BuiltinContract {
  return algorithm === 'knn' ? KNN : FACTORIZATION_MACHINES;
}

/** The documented hyperparameter names of a built-in, in the docs' table order. */
export function documentedHyperparameters(contract: BuiltinContract): string[] {
  return contract.hyperparameters.map((h) => h.name);
}

/** The documented required hyperparameter names of a built-in. */
export function requiredHyperparameters(contract: BuiltinContract): string[] {
  return contract.hyperparameters.filter((h) => h.required).map((h) => h.name);
}

/** The doc page of a built-in's hyperparameter table. */
export function hyperparameterDocUrl(contract: BuiltinContract): string {
  return contract.sources.hyperparameters;
}

/**
 * What a built-in refuses, worded as the built-in words it. `failureReason` is the training job's
 * FailureReason (`ClientError: ...`); `status` is the HTTP status an inference container answers.
 */
export class BuiltinClientError extends Error {
  constructor(
    message: string,
    readonly failureReason: string,
    readonly status: 400 | 406 | 415 = 400,
  ) {
    super(message);
    this.name = 'ClientError';
  }
}

/** A hyperparameter validation failure: `ClientError: <message> (caused by ValidationError)`. */
function validationError(message: string): BuiltinClientError {
  return new BuiltinClientError(message, `ClientError: ${message} (caused by ValidationError)`);
}

/** A channel or content-type failure of a training job: `ClientError: <message>`. */
function channelError(message: string): BuiltinClientError {
  return new BuiltinClientError(message, `ClientError: ${message}`);
}

/** Python 2 repr of a name, as the legacy images print it in validation messages. */
const repr = (name: string): string => `u'${name.replace(/'/g, "\\'")}'`;

/**
 * Checks CreateTrainingJob HyperParameters against a built-in's table, in the built-in's order:
 * unknown names, then missing required ones, then each value. Throws `BuiltinClientError`.
 */
export function validateHyperparameters(
  contract: BuiltinContract,
  hyperparameters: Readonly<Record<string, unknown>>,
): void {
  const byName = new Map(contract.hyperparameters.map((h) => [h.name, h]));
  const unexpected = Object.keys(hyperparameters).filter((name) => !byName.has(name));
  if (unexpected.length > 0) {
    const verb = unexpected.length === 1 ? 'was' : 'were';
    throw validationError(
      `Additional hyperparameters are not allowed (${unexpected.map(repr).join(', ')} ${verb} unexpected)`,
    );
  }
  const has = (name: string): boolean => hyperparameters[name] !== undefined;
  const missing = contract.hyperparameters.filter(
    (h) => !has(h.name) && (h.required || (h.requiredWith !== undefined && has(h.requiredWith))),
  );
  if (missing.length > 0) {
    throw validationError(
      `No value(s) were specified for ${missing.map((h) => `'${h.name}'`).join(', ')} which are required hyperparameter(s)`,
    );
  }
  for (const [name, value] of Object.entries(hyperparameters)) {
    if (value === undefined) continue;
    const spec = byName.get(name)!;
    if (typeof value !== 'string') {
      // CreateTrainingJob's HyperParameters is a map of strings; the API refuses anything else.
      throw validationError(
        `The value '${String(value)}' is not valid for the '${name}' hyperparameter which expects a string`,
      );
    }
    const problem = valueProblem(spec, value);
    if (problem)
      throw validationError(
        `The value '${value}' is not valid for the '${name}' hyperparameter which ${problem}`,
      );
  }
  for (const spec of contract.hyperparameters) {
    if (spec.lessThan === undefined || !has(spec.name) || !has(spec.lessThan)) continue;
    const value = Number(hyperparameters[spec.name]);
    const bound = Number(hyperparameters[spec.lessThan]);
    if (!(value < bound)) {
      throw validationError(
        `The value '${String(hyperparameters[spec.name])}' is not valid for the '${spec.name}' hyperparameter ` +
          `which expects an integer between 0 and ${spec.lessThan} (${String(hyperparameters[spec.lessThan])}), exclusive`,
      );
    }
  }
  for (const rule of contract.constraints ?? []) {
    const value = hyperparameters[rule.name];
    if (
      hyperparameters[rule.when.name] === rule.when.value &&
      typeof value === 'string' &&
      rule.notIn.includes(value)
    ) {
      throw validationError(
        `The value '${value}' is not valid for the '${rule.name}' hyperparameter when '${rule.when.name}' is '${rule.when.value}'`,
      );
    }
  }
}

/** Why `value` is not valid for `spec` ("accepts ..."/"expects ..."), or null when it is. */
function valueProblem(spec: BuiltinHyperparameter, value: string): string | null {
  if (spec.alsoAllowed?.includes(value)) return null;
  const alsoText = spec.alsoAllowed?.length ? ` or ${spec.alsoAllowed.map((v) => `'${v}'`).join(', ')}` : '';
  if (spec.type === 'enum') {
    return spec.values!.includes(value)
      ? null
      : `accepts one of the following: ${spec.values!.map((v) => `'${v}'`).join(', ')}`;
  }
  const trimmed = value.trim();
  const n = Number(trimmed);
  const numeric = trimmed !== '' && Number.isFinite(n);
  if (spec.type === 'integer') {
    const ok = numeric && /^[+-]?\d+$/.test(trimmed) && (spec.min === undefined || n >= spec.min);
    if (ok) return null;
    return `expects ${spec.min === 1 ? 'a positive integer' : 'an integer'}${alsoText}`;
  }
  const ok = numeric && (spec.min === undefined || n >= spec.min);
  if (ok) return null;
  return `expects ${spec.min === 0 ? 'a non-negative float' : 'a float'}${alsoText}`;
}

/** One channel of a CreateTrainingJob request, as far as the contract is concerned. */
export interface ChannelUse {
  readonly ChannelName?: string;
  readonly ContentType?: string;
}

/**
 * Checks a training job's channels: every name documented, the required ones present, each
 * ContentType (media type; parameters such as `label_size` are the algorithm's business) one the
 * channel documents. An absent ContentType is left to the algorithm's default. Throws
 * `BuiltinClientError`.
 */
export function validateChannels(contract: BuiltinContract, channels: readonly ChannelUse[]): void {
  const documented = contract.training.channels;
  const listed = documented.map((c) => `'${c.name}'${c.required ? ' (required)' : ''}`).join(', ');
  for (const channel of channels) {
    const spec = documented.find((c) => c.name === channel.ChannelName);
    if (!spec) {
      throw channelError(
        `Channel '${channel.ChannelName ?? ''}' is not supported by the ${contract.algorithm} algorithm; ` +
          `supported channels: ${listed}`,
      );
    }
    if (channel.ContentType === undefined) continue;
    const type = parseMediaType(channel.ContentType).type;
    if (!spec.contentTypes.includes(type)) {
      throw channelError(
        `Content type '${channel.ContentType}' of channel '${spec.name}' is not supported by the ` +
          `${contract.algorithm} algorithm; supported: ${spec.contentTypes.map((t) => `'${t}'`).join(', ')}`,
      );
    }
  }
  for (const spec of documented) {
    if (spec.required && !channels.some((c) => c.ChannelName === spec.name)) {
      throw channelError(`Required channel '${spec.name}' was not provided; supported channels: ${listed}`);
    }
  }
}

/**
 * The documented request media type an inference container reads for `contentType` (parameters such
 * as `label_size` kept aside); throws a 415 `BuiltinClientError` for an undocumented one.
 */
export function checkRequestContentType(contract: BuiltinContract, contentType: string): string {
  const type = parseMediaType(contentType || '').type;
  if (contract.inference.requestContentTypes.includes(type)) return type;
  const message =
    `Content type '${contentType}' is not supported by the ${contract.algorithm} algorithm; ` +
    `supported: ${contract.inference.requestContentTypes.join(', ')}`;
  throw new BuiltinClientError(message, `ClientError: ${message}`, 415);
}

/**
 * The documented Accept type (`type` or `type; verbose=true`) an inference container answers for the
 * `accept` header: the first listed alternative that is documented; an absent Accept or `*\/*` gets
 * the first documented type. Throws a 406 `BuiltinClientError` when none is documented, e.g. for
 * `application/jsonlines; verbose=true`.
 */
export function resolveAcceptType(contract: BuiltinContract, accept: string | undefined): string {
  const documented = contract.inference.acceptTypes;
  if (!accept || accept.trim() === '') return documented[0];
  for (const part of accept.split(',')) {
    const media = parseMediaType(part);
    if (media.type === '*/*') return documented[0];
    const verbose = (media.params.get('verbose') ?? 'false').toLowerCase() === 'true';
    const canonical = verbose ? `${media.type}; verbose=true` : media.type;
    if (documented.includes(canonical)) return canonical;
  }
  const message =
    `Accept type '${accept}' is not supported by the ${contract.algorithm} algorithm; ` +
    `supported: ${documented.join(', ')}`;
  throw new BuiltinClientError(message, `ClientError: ${message}`, 406);
}

/** A media type and its parameters (names lower-cased, quotes stripped). */
export interface MediaType {
  readonly type: string;
  readonly params: ReadonlyMap<string, string>;
}

/** Parses `type/subtype; a=b; c="d"`. */
export function parseMediaType(header: string): MediaType {
  const [type, ...rest] = header.split(';');
  const params = new Map<string, string>();
  for (const part of rest) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim().toLowerCase();
    const value = part
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
    if (name) params.set(name, value);
  }
  return { type: type.trim().toLowerCase(), params };
}
