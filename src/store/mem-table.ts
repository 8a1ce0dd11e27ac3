import type { IndexSpec, StoredObject, TableSpec } from './schema.ts';

type AnySpec = TableSpec<StoredObject, Record<string, IndexSpec<StoredObject>>>;

/**
 * One table's objects by id plus a map per index from key to the ids holding it. Objects are
 * stored as given (the callers freeze them first) and never copied on the way out.
 */
export class MemTable {
  readonly spec: AnySpec;
  private readonly objects = new Map<string, StoredObject>();
  private readonly indexes = new Map<string, Map<string, Set<string>>>();

  constructor(spec: AnySpec) {
    this.spec = spec;
    for (const name of Object.keys(spec.indexes)) this.indexes.set(name, new Map());
  }

  get size(): number {
    return this.objects.size;
  }

  get(id: string): StoredObject | undefined {
    return this.objects.get(id);
  }

  has(id: string): boolean {
    return this.objects.has(id);
  }

  values(): IterableIterator<StoredObject> {
    return this.objects.values();
  }

  /** Ids under `key` in index `by`, in insertion order. */
  idsBy(by: string, key: string): ReadonlySet<string> {
    return this.index(by).get(key) ?? empty;
  }

  put(obj: StoredObject): void {
    const id = obj.meta.id;
    const old = this.objects.get(id);
    for (const [name, spec] of Object.entries(this.spec.indexes)) {
      const before = old === undefined ? null : spec.key(old);
      const after = spec.key(obj);
      if (before === after) continue;
      const index = this.index(name);
      if (before !== null) unlink(index, before, id);
      if (after !== null) link(index, after, id);
    }
    this.objects.set(id, obj);
  }

  remove(id: string): void {
    const old = this.objects.get(id);
    if (old === undefined) return;
    for (const [name, spec] of Object.entries(this.spec.indexes)) {
      const key = spec.key(old);
      if (key !== null) unlink(this.index(name), key, id);
    }
    this.objects.delete(id);
  }

  private index(name: string): Map<string, Set<string>> {
    const index = this.indexes.get(name);
    if (index === undefined) throw new Error(`no index '${name}' on ${this.spec.noun}s`);
    return index;
  }
}

const empty: ReadonlySet<string> = new Set();

function link(index: Map<string, Set<string>>, key: string, id: string): void {
  const ids = index.get(key);
  if (ids === undefined) index.set(key, new Set([id]));
  else ids.add(id);
}

function unlink(index: Map<string, Set<string>>, key: string, id: string): void {
  const ids = index.get(key);
  if (ids === undefined) return;
  ids.delete(id);
  if (ids.size === 0) index.delete(key);
}
