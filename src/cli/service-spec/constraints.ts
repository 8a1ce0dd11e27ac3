import { bad } from './problems.ts';

// Swarm's placement constraints: `field==value` or `field!=value`, checked here with swarmkit's
// own key and value patterns, against the fields its scheduler knows. The text is stored as
// given, as Swarm stores it; the scheduler parses it again.

export const constraintFields =
  'node.id, node.hostname, node.role, node.labels.<key>, engine.labels.<key>, node.platform.os, node.platform.arch';

const plainFields = [
  'node.id',
  'node.hostname',
  'node.role',
  'node.platform.os',
  'node.platform.arch',
];
const labelPrefixes = ['node.labels.', 'engine.labels.'];

/** swarmkit manager/constraint: a key of letters, digits, - _ . (case-insensitive). */
const keyRe = /^[a-z_][a-z0-9\-_.]+$/i;
/** swarmkit's value pattern: it allows regex-like characters and inner spaces. */
const valueRe = /^[a-z0-9:\-_\s.*()?+[\]\\^$|/]+$/i;

export interface Constraint {
  readonly field: string;
  readonly operator: '==' | '!=';
  readonly value: string;
}

export function parseConstraint(text: string, flag: string): Constraint {
  const operator = text.includes('==') ? '==' : text.includes('!=') ? '!=' : null;
  if (operator === null) {
    bad(`${flag}: "${text}" is not field==value or field!=value (example: node.role==manager)`);
  }
  const at = text.indexOf(operator);
  const field = text.slice(0, at).trim();
  const value = text.slice(at + 2).trim();
  if (!keyRe.test(field)) bad(`${flag}: "${text}" has no valid field before ${operator}`);
  const lower = field.toLowerCase();
  const isLabel = labelPrefixes.some((p) => lower.startsWith(p) && lower.length > p.length);
  if (!isLabel && !plainFields.includes(lower)) {
    bad(`${flag}: "${field}" is not a known field (${constraintFields})`);
  }
  if (value === '') bad(`${flag}: "${text}" has no value after ${operator}`);
  if (!valueRe.test(value)) {
    bad(`${flag}: "${text}" has a value with characters Swarm does not allow in constraints`);
  }
  if (lower === 'node.role' && value !== 'manager' && value !== 'worker') {
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
