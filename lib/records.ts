/** Maps every value of a record keyed by logical names, keeping the key type. */
export function mapRecord<K extends string, V, R>(record: Readonly<Record<K, V>>, fn: (value: V, key: K) => R): Record<K, R> {
  return Object.fromEntries((Object.entries(record) as [K, V][]).map(([key, value]) => [key, fn(value, key)])) as Record<K, R>;
}
