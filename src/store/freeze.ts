/**
 * Freezes a plain-data object graph (what JSON.parse returns): stored objects are shared by
 * every reader, so none of them may change one in place.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  // for...in rather than Object.values: no array per object, and this runs for every object
  // of every change, twice (proposer and apply).
  const obj = value as Record<string, unknown>;
  for (const key in obj) {
    const v = obj[key];
    if (typeof v === 'object' && v !== null) deepFreeze(v);
  }
  return Object.freeze(value);
}

/**
 * A frozen copy exactly as the object will be stored after its trip through the log (undefined
 * fields dropped, no shared references with the caller's object).
 */
export function frozenCopy<T>(value: T): T {
  return deepFreeze(JSON.parse(JSON.stringify(value)) as T);
}
