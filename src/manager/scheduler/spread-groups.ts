// Tasks per group of a spread preference (per zone, say), kept for each service and preference
// level a pass asks about. Built on first use with one walk over the nodes and bumped on every
// placement; a task resolves its levels once, after which a node's count is two array reads.
// That matters: the preference scorer runs for every eligible node of every pending task.
//
// Groups count the service's tasks on every node of the group, eligible or not: a task running on
// a paused node in zone a still serves from zone a. (swarmkit counts only eligible nodes.)

import type { NodeInfo } from './node-info.ts';
import { spreadValue } from './preference.ts';
import type { SpreadLevel } from './request.ts';

export class GroupCounts {
  /** Group number of each node, by NodeInfo.index. */
  readonly #groupOf: Int32Array;
  readonly #tasks: number[];

  constructor(groupOf: Int32Array, tasks: number[]) {
    this.#groupOf = groupOf;
    this.#tasks = tasks;
  }

  /** Tasks of the service in the node's group. */
  tasksInGroup(node: NodeInfo): number {
    return this.#tasks[this.#groupOf[node.index]!]!;
  }

  placed(node: NodeInfo): void {
    this.#tasks[this.#groupOf[node.index]!]!++;
  }
}

export class SpreadGroups {
  readonly #nodes: readonly NodeInfo[];
  /** serviceId → level key → counts. */
  readonly #byService = new Map<string, Map<string, GroupCounts>>();

  /** `nodes` in NodeInfo.index order. */
  constructor(nodes: readonly NodeInfo[]) {
    this.#nodes = nodes;
  }

  /** The counts for each of a task's spread levels, outermost first. */
  levels(serviceId: string, spread: readonly SpreadLevel[]): GroupCounts[] {
    if (spread.length === 0) return [];
    let levels = this.#byService.get(serviceId);
    if (levels === undefined) {
      levels = new Map();
      this.#byService.set(serviceId, levels);
    }
    return spread.map((level) => {
      let counts = levels.get(level.key);
      if (counts === undefined) {
        counts = this.#count(serviceId, level);
        levels.set(level.key, counts);
      }
      return counts;
    });
  }

  /** Records a task of the service just placed on the node, at every level counted so far. */
  placed(serviceId: string, node: NodeInfo): void {
    for (const counts of this.#byService.get(serviceId)?.values() ?? []) counts.placed(node);
  }

  #count(serviceId: string, level: SpreadLevel): GroupCounts {
    const numbers = new Map<string, number>();
    const groupOf = new Int32Array(this.#nodes.length);
    const tasks: number[] = [];
    for (const node of this.#nodes) {
      // JSON keeps ['a', 'b'] and ['a\nb'] apart where a plain join would not.
      const group = JSON.stringify(level.preferences.map((p) => spreadValue(node.node, p)));
      let n = numbers.get(group);
      if (n === undefined) {
        n = tasks.push(0) - 1;
        numbers.set(group, n);
      }
      groupOf[node.index] = n;
      tasks[n]! += node.tasksOfService(serviceId);
    }
    return new GroupCounts(groupOf, tasks);
  }
}
