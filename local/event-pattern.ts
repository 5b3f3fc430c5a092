/**
 * The subset of EventBridge event patterns that Lambda filter criteria use, for the local event source mappings:
 * nested objects, lists of literal values (a list in the event matches if any element does), `anything-but`,
 * `prefix` and `exists`. An unsupported operator throws, so a definition never silently filters differently here.
 */
export function matchesPattern(pattern: Readonly<Record<string, unknown>>, event: unknown): boolean {
  return Object.entries(pattern).every(([key, expected]) => {
    const actual = event && typeof event === 'object' ? (event as Record<string, unknown>)[key] : undefined;
    if (Array.isArray(expected)) return expected.some((rule) => matchesValue(rule, actual));
    if (expected && typeof expected === 'object') return matchesPattern(expected as Record<string, unknown>, actual);
    throw new UnsupportedPatternError(`pattern value of ${key} must be a list or an object`);
  });
}

/** A filter pattern uses something the local matcher does not implement. */
export class UnsupportedPatternError extends Error {}

function matchesValue(rule: unknown, actual: unknown): boolean {
  const values = Array.isArray(actual) ? actual : [actual];
  if (rule === null || typeof rule !== 'object') return actual !== undefined && values.some((value) => value === rule);
  const [operator, operand] = Object.entries(rule as Record<string, unknown>)[0] ?? [];
  switch (operator) {
    case 'anything-but': {
      const excluded = Array.isArray(operand) ? operand : [operand];
      return actual !== undefined && values.every((value) => !excluded.includes(value));
    }
    case 'prefix':
      return values.some((value) => typeof value === 'string' && value.startsWith(String(operand)));
    case 'exists':
      return (actual !== undefined) === Boolean(operand);
    default:
      throw new UnsupportedPatternError(`unsupported pattern operator ${String(operator)}`);
  }
}
