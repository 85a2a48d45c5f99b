/**
 * Validates a request to a local stand-in against AWS's own API model of the service (the trimmed
 * botocore models in `local/aws-models/`, written by `local/aws-models/update.ts`): required members,
 * unknown members, JSON types, enums, lengths, ranges and patterns. A refusal carries the error code the
 * service returns and its message, in the form AWS's request validation prints it:
 *
 *   1 validation error detected: Value 'ml.bogus' at 'resourceConfig.instanceType' failed to satisfy
 *   constraint: Member must satisfy enum value set: [ml.m4.xlarge, ...]
 *
 * Inputs use the model's member names (PascalCase for SageMaker, SSM, ...; lowerCamel for CodePipeline),
 * as the SDKs put them on the wire and Step Functions passes them; messages name members lowerCamel with
 * `.N.member.` for list elements, as AWS does. A JSON type that does not fit the shape is a
 * `SerializationException` on the JSON protocols (AWS cannot even read the request); the location is
 * added to its message, which AWS leaves out. Members the model does not have are refused too: an SDK
 * never sends one, but a Step Functions `Parameters` block can, and Step Functions refuses those.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A member reference: the shape it has and where it goes on the wire. */
export interface ShapeRef {
  readonly shape: string;
  readonly location?: string;
  readonly locationName?: string;
}

export interface Shape {
  readonly type: string;
  readonly required?: readonly string[];
  readonly members?: Readonly<Record<string, ShapeRef>>;
  readonly member?: ShapeRef;
  readonly key?: ShapeRef;
  readonly value?: ShapeRef;
  readonly min?: number;
  readonly max?: number;
  readonly pattern?: string;
  readonly enum?: readonly string[];
  readonly streaming?: boolean;
  readonly exception?: boolean;
}

/** Where a trimmed model came from (its file's `source` header). */
export interface ModelSource {
  readonly botocoreVersion: string;
  readonly gitCommit?: string;
  readonly path: string;
  readonly generated: string;
  readonly license: string;
}

export interface ServiceModel {
  readonly source: ModelSource;
  readonly metadata: {
    readonly protocol: string;
    readonly serviceId: string;
    readonly targetPrefix?: string;
    readonly [key: string]: unknown;
  };
  readonly operations: Readonly<
    Record<string, { readonly name: string; readonly input?: ShapeRef; readonly errors?: readonly string[] }>
  >;
  readonly shapes: Readonly<Record<string, Shape>>;
  /** Every error the service models: shape name to wire code. */
  readonly exceptions: Readonly<Record<string, string>>;
}

/** The committed trimmed models. */
export const MODEL_DIR = join(__dirname, '..', 'aws-models');

/**
 * The code each service answers a request that breaks its model with. SNS and CloudWatch are query
 * services whose request validation answers `InvalidParameter` and `ValidationError`; S3 does not run
 * that validation and answers a bad request with `InvalidArgument`.
 */
export const VALIDATION_ERROR_CODES: Readonly<Record<string, string>> = {
  sagemaker: 'ValidationException',
  'sagemaker-runtime': 'ValidationError',
  ssm: 'ValidationException',
  sns: 'InvalidParameter',
  cloudwatch: 'ValidationError',
  s3: 'InvalidArgument',
  codepipeline: 'ValidationException',
};

const models = new Map<string, ServiceModel>();

/** The trimmed model of `service` (a botocore service name: `sagemaker`, `ssm`, ...), cached. */
export function loadServiceModel(service: string): ServiceModel {
  let model = models.get(service);
  if (!model) {
    model = JSON.parse(readFileSync(join(MODEL_DIR, `${service}.json`), 'utf8')) as ServiceModel;
    models.set(service, model);
  }
  return model;
}

/** The services with a committed model. */
export function modelServices(): string[] {
  return readdirSync(MODEL_DIR)
    .filter((file) => file.endsWith('.json'))
    .map((file) => file.slice(0, -'.json'.length))
    .sort();
}

/** The service whose model has this JSON protocol target prefix (`AmazonSSM`, ...), if any. */
export function serviceForTargetPrefix(targetPrefix: string): string | undefined {
  return modelServices().find((service) => loadServiceModel(service).metadata.targetPrefix === targetPrefix);
}

/** What is wrong with a request: the kind, AWS's path (`resourceConfig.instanceType`), the message. */
export interface Violation {
  readonly kind: 'required' | 'unknown' | 'type' | 'enum' | 'length' | 'range' | 'pattern';
  /** The path as AWS prints it: lowerCamel members, `.N.member.` for list elements. */
  readonly path: string;
  /** The path in the request's own member names, e.g. `ResourceConfig.InstanceType`. */
  readonly memberPath: string;
  readonly message: string;
}

/** A refused request: `code` is the error code the service returns (`ValidationException`, ...). */
export class ApiValidationError extends Error {
  readonly status = 400;
  constructor(
    readonly code: string,
    message: string,
    readonly service: string,
    readonly operation: string,
    readonly violations: readonly Violation[],
  ) {
    super(message);
    this.name = 'ApiValidationError';
  }

  /** The modelled exception of this code (e.g. `ValidationException` in SSM), if the service has one. */
  get exceptionShape(): string | undefined {
    const { exceptions } = loadServiceModel(this.service);
    return Object.keys(exceptions).find((shape) => exceptions[shape] === this.code);
  }
}

/** Options: `template` checks a Step Functions `Parameters` block, where `Key.$` is a JSONPath. */
export interface CheckOptions {
  readonly template?: boolean;
}

/** Every violation of `input` against `operation`'s input shape. */
export function findViolations(
  model: ServiceModel,
  operation: string,
  input: unknown,
  options: CheckOptions = {},
): Violation[] {
  const op = model.operations[operation];
  if (!op) throw new Error(`${operation} is not in the ${model.metadata.serviceId} model`);
  const violations: Violation[] = [];
  if (op.input) {
    checkStructure(model, op.input.shape, input ?? {}, '', '', violations, options);
  } else if (input && Object.keys(input as object).length) {
    const field = Object.keys(input as object)[0];
    violations.push(unknown(field, lowerCamel(field), field, operation));
  }
  return violations;
}

/** Throws an ApiValidationError when `input` breaks the model of `service`'s `operation`. */
export function validateRequest(service: string, operation: string, input: unknown): void {
  const violations = findViolations(loadServiceModel(service), operation, input);
  if (violations.length) throw validationError(service, operation, violations);
}

/**
 * The error AWS answers these violations with: a JSON type that does not fit is a
 * `SerializationException` (JSON protocols; only the first is reported, the request is unreadable);
 * anything else is the service's validation error listing every violation.
 */
export function validationError(
  service: string,
  operation: string,
  violations: readonly Violation[],
): ApiValidationError {
  const protocol = loadServiceModel(service).metadata.protocol;
  const typeError = violations.find((v) => v.kind === 'type');
  if (typeError && /json|cbor/.test(protocol)) {
    return new ApiValidationError('SerializationException', typeError.message, service, operation, [
      typeError,
    ]);
  }
  const code = VALIDATION_ERROR_CODES[service] ?? 'ValidationException';
  return new ApiValidationError(code, validationMessage(violations), service, operation, violations);
}

/** `N validation error(s) detected: a; b`, as AWS's request validation words it. */
export function validationMessage(violations: readonly Violation[]): string {
  const n = violations.length;
  return `${n} validation error${n === 1 ? '' : 's'} detected: ${violations.map((v) => v.message).join('; ')}`;
}

/** `resourceConfig` for `ResourceConfig`: member names as AWS prints them. */
export function lowerCamel(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);

function join2(base: string, name: string): string {
  return base ? `${base}.${name}` : name;
}

function unknown(field: string, path: string, memberPath: string, shape: string): Violation {
  return {
    kind: 'unknown',
    path,
    memberPath,
    message: `The field "${field}" at '${path}' is not a member of ${shape}`,
  };
}

function checkStructure(
  model: ServiceModel,
  shapeName: string,
  value: unknown,
  path: string,
  memberPath: string,
  out: Violation[],
  options: CheckOptions,
): void {
  const shape = model.shapes[shapeName];
  if (!isObject(value)) {
    out.push(typeViolation(shape, value, path || 'the request', memberPath));
    return;
  }
  const members = shape.members ?? {};
  const given = new Set<string>();
  for (const [key, member] of Object.entries(value)) {
    const isPath = options.template === true && key.endsWith('.$');
    const name = isPath ? key.slice(0, -2) : key;
    const where = join2(path, lowerCamel(name));
    const whereSent = join2(memberPath, name);
    if (!Object.hasOwn(members, name)) {
      out.push(unknown(name, where, whereSent, shapeName));
      continue;
    }
    if (member === null || member === undefined) continue;
    given.add(name);
    if (!isPath) checkValue(model, members[name].shape, member, where, whereSent, out, options);
  }
  for (const name of shape.required ?? []) {
    if (!given.has(name)) {
      out.push({
        kind: 'required',
        path: join2(path, lowerCamel(name)),
        memberPath: join2(memberPath, name),
        message: `Value null at '${join2(path, lowerCamel(name))}' failed to satisfy constraint: Member must not be null`,
      });
    }
  }
}

function checkValue(
  model: ServiceModel,
  shapeName: string,
  value: unknown,
  path: string,
  memberPath: string,
  out: Violation[],
  options: CheckOptions,
): void {
  const shape = model.shapes[shapeName];
  switch (shape.type) {
    case 'structure':
      checkStructure(model, shapeName, value, path, memberPath, out, options);
      return;
    case 'list':
      checkList(model, shape, value, path, memberPath, out, options);
      return;
    case 'map':
      checkMap(model, shape, value, path, memberPath, out, options);
      return;
    default: {
      if (!fitsType(shape, value)) {
        out.push(typeViolation(shape, value, path, memberPath));
        return;
      }
      for (const message of scalarConstraints(shape, value)) {
        out.push({
          ...message,
          path,
          memberPath,
          message: `Value ${show(value)} at '${path}' ${message.text}`,
        });
      }
    }
  }
}

function checkList(
  model: ServiceModel,
  shape: Shape,
  value: unknown,
  path: string,
  memberPath: string,
  out: Violation[],
  options: CheckOptions,
): void {
  if (!Array.isArray(value)) {
    out.push(typeViolation(shape, value, path, memberPath));
    return;
  }
  out.push(...sizeViolations(shape, value, value.length, path, memberPath));
  const element = model.shapes[shape.member!.shape];
  if (element.type === 'structure' || element.type === 'list' || element.type === 'map') {
    value.forEach((item, i) =>
      checkValue(
        model,
        shape.member!.shape,
        item,
        `${path}.${i + 1}.member`,
        `${memberPath}[${i}]`,
        out,
        options,
      ),
    );
    return;
  }
  // Scalar elements: AWS reports the list once, with the constraints its elements break.
  const broken = new Set<string>();
  for (const [i, item] of value.entries()) {
    if (item === null || item === undefined) continue;
    if (!fitsType(element, item)) {
      out.push(typeViolation(element, item, `${path}.${i + 1}.member`, `${memberPath}[${i}]`));
      return;
    }
    for (const c of scalarConstraints(element, item))
      broken.add(c.text.replace(/^failed to satisfy constraint: /, ''));
  }
  if (broken.size) {
    out.push({
      kind: firstKind(element, value),
      path,
      memberPath,
      message: `Value ${show(value)} at '${path}' failed to satisfy constraint: Member must satisfy constraint: [${[...broken].join(', ')}]`,
    });
  }
}

function checkMap(
  model: ServiceModel,
  shape: Shape,
  value: unknown,
  path: string,
  memberPath: string,
  out: Violation[],
  options: CheckOptions,
): void {
  if (!isObject(value)) {
    out.push(typeViolation(shape, value, path, memberPath));
    return;
  }
  const entries = Object.entries(value);
  out.push(...sizeViolations(shape, value, entries.length, path, memberPath));
  const keyShape = model.shapes[shape.key!.shape];
  const valueShapeName = shape.value!.shape;
  const valueShape = model.shapes[valueShapeName];
  const keys = new Set<string>();
  const values = new Set<string>();
  let kind: Violation['kind'] = 'length';
  for (const [entryKey, item] of entries) {
    const isPath = options.template === true && entryKey.endsWith('.$');
    const key = isPath ? entryKey.slice(0, -2) : entryKey;
    for (const c of scalarConstraints(keyShape, key)) {
      keys.add(c.text.replace(/^failed to satisfy constraint: /, ''));
      kind = c.kind;
    }
    if (isPath || item === null || item === undefined) continue;
    if (valueShape.type === 'structure' || valueShape.type === 'list' || valueShape.type === 'map') {
      checkValue(model, valueShapeName, item, `${path}.${key}`, `${memberPath}.${key}`, out, options);
    } else if (!fitsType(valueShape, item)) {
      out.push(typeViolation(valueShape, item, `${path}.${key}`, `${memberPath}.${key}`));
    } else {
      for (const c of scalarConstraints(valueShape, item)) {
        values.add(c.text.replace(/^failed to satisfy constraint: /, ''));
        kind = c.kind;
      }
    }
  }
  const report = (what: string, broken: Set<string>) =>
    out.push({
      kind,
      path,
      memberPath,
      message: `Value ${show(value)} at '${path}' failed to satisfy constraint: ${what} must satisfy constraint: [${[...broken].join(', ')}]`,
    });
  if (keys.size) report('Map keys', keys);
  if (values.size) report('Map value', values);
}

function firstKind(element: Shape, items: readonly unknown[]): Violation['kind'] {
  for (const item of items) {
    const c = item === null || item === undefined ? undefined : scalarConstraints(element, item)[0];
    if (c) return c.kind;
  }
  return 'length';
}

function sizeViolations(
  shape: Shape,
  value: unknown,
  size: number,
  path: string,
  memberPath: string,
): Violation[] {
  const out: Violation[] = [];
  const at = `Value ${show(value)} at '${path}' failed to satisfy constraint: Member must have length`;
  if (shape.min !== undefined && size < shape.min) {
    out.push({ kind: 'length', path, memberPath, message: `${at} greater than or equal to ${shape.min}` });
  }
  if (shape.max !== undefined && size > shape.max) {
    out.push({ kind: 'length', path, memberPath, message: `${at} less than or equal to ${shape.max}` });
  }
  return out;
}

/** The constraints a scalar of the right JSON type breaks, as `failed to satisfy constraint: ...`. */
function scalarConstraints(shape: Shape, value: unknown): { kind: Violation['kind']; text: string }[] {
  const out: { kind: Violation['kind']; text: string }[] = [];
  const fail = (kind: Violation['kind'], text: string) =>
    out.push({ kind, text: `failed to satisfy constraint: ${text}` });
  if (shape.type === 'string') {
    const text = value as string;
    if (shape.enum && !shape.enum.includes(text)) {
      fail('enum', `Member must satisfy enum value set: [${shape.enum.join(', ')}]`);
    }
    if (shape.min !== undefined && text.length < shape.min) {
      fail('length', `Member must have length greater than or equal to ${shape.min}`);
    }
    if (shape.max !== undefined && text.length > shape.max) {
      fail('length', `Member must have length less than or equal to ${shape.max}`);
    }
    if (shape.pattern !== undefined) {
      const regex = compilePattern(shape.pattern);
      if (regex && !regex.test(text)) {
        fail('pattern', `Member must satisfy regular expression pattern: ${shape.pattern}`);
      }
    }
  } else if (['integer', 'long', 'float', 'double'].includes(shape.type)) {
    const n = value as number;
    if (shape.min !== undefined && n < shape.min) {
      fail('range', `Member must have value greater than or equal to ${shape.min}`);
    }
    if (shape.max !== undefined && n > shape.max) {
      fail('range', `Member must have value less than or equal to ${shape.max}`);
    }
  } else if (shape.type === 'blob' && !shape.streaming) {
    const size = typeof value === 'string' ? Buffer.byteLength(value) : (value as Uint8Array).byteLength;
    if (shape.min !== undefined && size < shape.min) {
      fail('length', `Member must have length greater than or equal to ${shape.min}`);
    }
    if (shape.max !== undefined && size > shape.max) {
      fail('length', `Member must have length less than or equal to ${shape.max}`);
    }
  }
  return out;
}

/** Whether a JSON value has the type of a scalar shape (numbers are numbers, never numeric strings). */
function fitsType(shape: Shape, value: unknown): boolean {
  switch (shape.type) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
    case 'long':
      return typeof value === 'number' && Number.isInteger(value);
    case 'float':
    case 'double':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'timestamp':
      return (
        (typeof value === 'number' && Number.isFinite(value)) ||
        (typeof value === 'string' && !Number.isNaN(Date.parse(value))) ||
        value instanceof Date
      );
    case 'blob':
      return typeof value === 'string' || ArrayBuffer.isView(value) || shape.streaming === true;
    default:
      return true;
  }
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a String',
  integer: 'an Integer',
  long: 'a Long',
  float: 'a Float',
  double: 'a Double',
  boolean: 'a Boolean',
  timestamp: 'a Timestamp',
  blob: 'a Blob',
};

/** A JSON type that does not fit: AWS's deserializer message, plus where it is. */
function typeViolation(shape: Shape, value: unknown, path: string, memberPath: string): Violation {
  let text: string;
  if ((shape.type === 'structure' || shape.type === 'map') && Array.isArray(value)) {
    text = 'Start of list found where not expected';
  } else if (shape.type === 'list' && isObject(value)) {
    text = 'Start of structure or map found where not expected.';
  } else if (shape.type === 'structure' || shape.type === 'map') {
    text = `${jsonKind(value)} can not be converted to a Structure or Map`;
  } else if (shape.type === 'list') {
    text = `${jsonKind(value)} can not be converted to a List`;
  } else if (isObject(value)) {
    text = 'Start of structure or map found where not expected.';
  } else if (Array.isArray(value)) {
    text = 'Start of list found where not expected';
  } else {
    text = `${jsonKind(value)} can not be converted to ${TYPE_NAMES[shape.type] ?? shape.type}`;
  }
  return { kind: 'type', path, memberPath, message: `${text} (at '${path}')` };
}

function jsonKind(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? 'NUMBER_VALUE' : 'DECIMAL_VALUE';
  if (typeof value === 'boolean') return 'BOOLEAN_VALUE';
  if (typeof value === 'string') return 'STRING_VALUE';
  return 'VALUE';
}

/** A value as AWS quotes it: `'text'`, `'[a, b]'`, `'{k=v}'`. */
function show(value: unknown): string {
  const plain = (v: unknown): string => {
    if (Array.isArray(v)) return `[${v.map(plain).join(', ')}]`;
    if (isObject(v)) {
      return `{${Object.entries(v)
        .map(([k, x]) => `${k}=${plain(x)}`)
        .join(', ')}}`;
    }
    return String(v);
  };
  return `'${plain(value)}'`;
}

// ---------------------------------------------------------------------------------------------------
// Java regular expressions (the models' patterns) as JavaScript ones.

/** Java's POSIX classes as class contents (ASCII, as Java has them without UNICODE_CHARACTER_CLASS). */
const POSIX: Readonly<Record<string, string>> = {
  Lower: 'a-z',
  Upper: 'A-Z',
  ASCII: '\\x00-\\x7F',
  Alpha: 'a-zA-Z',
  Digit: '0-9',
  Alnum: 'a-zA-Z0-9',
  Punct: '!-\\/:-@\\[-`{-~',
  Graph: '!-~',
  Print: ' -~',
  Blank: ' \\t',
  Cntrl: '\\x00-\\x1F\\x7F',
  XDigit: '0-9a-fA-F',
  Space: ' \\t\\n\\x0B\\f\\r',
};

/** Java escapes a JavaScript pattern reads the same way. */
const SAME_ESCAPES = new Set('dDwWsSbBnrtf0'.split(''));
const SYNTAX = new Set('^$\\.*+?()[]{}|/'.split(''));

const compiled = new Map<string, RegExp | null>();

/** Patterns that could not be translated (never checked; the tests count them). */
export const untranslatedPatterns = new Set<string>();

/**
 * A Java pattern as a JavaScript RegExp that matches the whole value (AWS's validation uses Java's
 * `matches`), or undefined when the pattern uses something JavaScript has no equivalent for.
 */
export function compilePattern(pattern: string): RegExp | undefined {
  if (!compiled.has(pattern)) {
    const source = translatePattern(pattern);
    let regex: RegExp | null = null;
    if (source !== undefined) {
      try {
        regex = new RegExp(`^(?:${source.text})$`, source.unicode ? 'u' : '');
      } catch {
        regex = null;
      }
    }
    if (!regex) untranslatedPatterns.add(pattern);
    compiled.set(pattern, regex);
  }
  return compiled.get(pattern) ?? undefined;
}

/** The JavaScript source of a Java pattern, or undefined for constructs with no translation. */
export function translatePattern(pattern: string): { text: string; unicode: boolean } | undefined {
  // Java reads `\uD800\uDC00` (a high then a low surrogate escape) as one code point, so a class range
  // `\uD800\uDC00-\uDBFF\uDFFF` is U+10000-U+10FFFF; JavaScript reads it that way only in `u` mode.
  const unicode = /\\[pP]\{/.test(pattern) || /\\uD[89AB][0-9A-F]{2}\\uD[C-F][0-9A-F]{2}/i.test(pattern);
  let out = '';
  let inClass = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      const e = pattern[i + 1];
      if (e === undefined) return undefined;
      i++;
      if (e === 'p' || e === 'P') {
        const close = pattern.indexOf('}', i);
        if (pattern[i + 1] !== '{' || close < 0) return undefined;
        const name = pattern.slice(i + 2, close).replace(/^Is(?=[A-Z])/, '');
        i = close;
        if (POSIX[name]) {
          if (inClass) {
            if (e === 'P') return undefined;
            out += POSIX[name];
          } else {
            out += `[${e === 'P' ? '^' : ''}${POSIX[name]}]`;
          }
        } else if (
          /^(L[ultmo]?|N[dlo]?|P[cdseifo]?|S[mcko]?|Z[slp]?|C[cfson]?|M[nce]?|Alphabetic)$/.test(name)
        ) {
          out += `\\${e}{${name}}`;
        } else {
          return undefined;
        }
      } else if (e === 'A' && !inClass) {
        out += '^';
      } else if ((e === 'z' || e === 'Z') && !inClass) {
        out += '$';
      } else if (e === 'Q') {
        const end = pattern.indexOf('\\E', i + 1);
        const literal = pattern.slice(i + 1, end < 0 ? undefined : end);
        out += literal.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
        i = end < 0 ? pattern.length : end + 1;
      } else if (SAME_ESCAPES.has(e) || /[1-9]/.test(e)) {
        out += `\\${e}`;
      } else if (e === 'x' || e === 'u') {
        out += `\\${e}`;
      } else if (/[a-zA-Z]/.test(e)) {
        return undefined; // \h, \R, \G, \k, \X, \v ...: no faithful JavaScript equivalent here
      } else if (SYNTAX.has(e) || (inClass && e === '-')) {
        out += `\\${e}`;
      } else {
        out += unicode ? e : `\\${e}`; // an identity escape of punctuation (u mode refuses those)
      }
      continue;
    }
    if (c === '[') {
      if (inClass) return undefined; // a nested class: Java's union or intersection
      inClass++;
      out += c;
      if (pattern[i + 1] === '^') {
        out += '^';
        i++;
      }
      if (pattern[i + 1] === ']') {
        out += '\\]'; // a leading ] is a literal in Java
        i++;
      }
      continue;
    }
    if (c === ']' && inClass) {
      inClass--;
      out += c;
      continue;
    }
    if (inClass && c === '&' && pattern[i + 1] === '&') return undefined;
    // Possessive quantifiers (`*+`, `++`, `?+`, `}+`): greedy is the same for validation purposes here.
    if (!inClass && c === '+' && /[*+?}]/.test(pattern[i - 1] ?? '') && pattern[i - 2] !== '\\') {
      continue;
    }
    out += c;
  }
  return inClass ? undefined : { text: out, unicode };
}

// ---------------------------------------------------------------------------------------------------
// Step Functions task resources.

/** botocore's service names for Step Functions' integration names. */
const SFN_SERVICES: Readonly<Record<string, string>> = {
  sagemaker: 'sagemaker',
  ssm: 'ssm',
  sns: 'sns',
  cloudwatch: 'cloudwatch',
  s3: 's3',
  codepipeline: 'codepipeline',
  sagemakerruntime: 'sagemaker-runtime',
};

/**
 * The (service, operation) a Task resource calls: `arn:aws:states:::sagemaker:createTrainingJob.sync`,
 * `arn:aws:states:::aws-sdk:ssm:getParameter`, `arn:aws:states:::sns:publish`; undefined for Lambda
 * functions and services without a model.
 */
export function taskOperation(
  resource: string,
): { service: string; operation: string; integration: 'optimized' | 'sdk' } | undefined {
  const match =
    /^arn:aws[a-z-]*:states:::(aws-sdk:)?([a-z0-9]+):([a-zA-Z0-9]+)(\.sync(:\d+)?|\.waitForTaskToken)?$/.exec(
      resource,
    );
  if (!match) return undefined;
  const service = SFN_SERVICES[match[2]];
  if (!service) return undefined;
  const operation = match[3].charAt(0).toUpperCase() + match[3].slice(1);
  return { service, operation, integration: match[1] ? 'sdk' : 'optimized' };
}
