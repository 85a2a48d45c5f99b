/** Narrows a caught value to an Error (wrapping anything else), so `catch` blocks stay typed. */
export function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
