import { type ConstraintProblem, readConstraint } from '../../api/constraint-grammar.ts';
import { bad } from './problems.ts';

// Swarm's placement constraints, checked where the flag is typed with the grammar the manager
// uses (src/api/constraint-grammar.ts), in the CLI's wording. The text is stored as given, as
// Swarm stores it; the manager parses it again.

export const constraintFields =
  'node.id, node.hostname, node.role, node.labels.<key>, engine.labels.<key>, node.platform.os, node.platform.arch';

const labelPrefixes = ['node.labels.', 'engine.labels.'];

export interface Constraint {
  readonly field: string;
  readonly operator: '==' | '!=';
  readonly value: string;
}

function problemText(text: string, problem: ConstraintProblem, flag: string): string {
  switch (problem.kind) {
    case 'no-operator':
      return `${flag}: "${text}" is not field==value or field!=value (example: node.role==manager)`;
    case 'no-field':
    case 'malformed-field':
      return `${flag}: "${text}" has no valid field before ${problem.operator}`;
    case 'unknown-field':
    case 'no-label-key':
      return `${flag}: "${problem.key}" is not a known field (${constraintFields})`;
    case 'no-value':
      return `${flag}: "${text}" has no value after ${problem.operator}`;
    case 'bad-value':
      return `${flag}: "${text}" has a value with characters Swarm does not allow in constraints`;
  }
}

export function parseConstraint(text: string, flag: string): Constraint {
  const read = readConstraint(text);
  if ('problem' in read) bad(problemText(text, read.problem, flag));
  const { operator, value } = read.constraint;
  const field = text.slice(0, text.indexOf(operator)).trim();
  // Swarm would leave such a task pending for ever: no node has another role.
  if (read.constraint.field.kind === 'node.role' && value !== 'manager' && value !== 'worker') {
    bad(`${flag}: "${text}": node.role is manager or worker`);
  }
  return { field, operator, value };
}

/** `spread=node.labels.<key>` (or engine.labels.<key>): the only strategy Swarm has. */
export function parsePlacementPref(text: string, flag: string): { readonly spread: string } {
  const eq = text.indexOf('=');
  if (eq <= 0) bad(`${flag}: "${text}" is not spread=<label> (example: spread=node.labels.zone)`);
  const strategy = text.slice(0, eq);
  const descriptor = text.slice(eq + 1);
  if (strategy !== 'spread') {
    bad(`${flag}: "${strategy}" in "${text}" is not a placement strategy (only spread is)`);
  }
  const ok = labelPrefixes.some((p) => descriptor.startsWith(p) && descriptor.length > p.length);
  if (!ok) {
    bad(`${flag}: "${descriptor}" in "${text}" is not node.labels.<key> or engine.labels.<key>`);
  }
  return { spread: descriptor };
}
