/**
 * Event-type patterns of a subscription: an exact type (`record.created`), a family wildcard
 * (`record.*`) or everything (`*`).
 */
export function matchesType(patterns: readonly string[], type: string): boolean {
  return patterns.some((p) => p === "*" || p === type || (p.endsWith(".*") && type.startsWith(p.slice(0, -1))));
}

/** Which patterns name nothing in the catalogue (a typo would otherwise silently never match). */
export function unknownPatterns(patterns: readonly string[], knownTypes: readonly string[]): string[] {
  return patterns.filter((p) => !knownTypes.some((t) => matchesType([p], t)));
}
