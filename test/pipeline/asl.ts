/**
 * asl-validator 4 ships no type declarations; this typed wrapper is the one place that loads it.
 * The validator annotates the object it checks, so it is given a copy.
 */
type Validate = (definition: unknown) => { isValid: boolean; errorsText: (separator?: string) => string };
const validate = require('asl-validator') as Validate;

/** asl-validator's verdict on a definition: the error text ('' when valid). */
export function aslErrors(definition: unknown): string {
  const result = validate(JSON.parse(JSON.stringify(definition)));
  return result.isValid ? '' : result.errorsText('\n') || 'invalid';
}
