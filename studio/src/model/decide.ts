// A decision table (a node's `decide`) as the studio edits it: a cell's
// text and the JSON value the engine reads (docs/workflows.md#decision-tables).
import type { NodeSpec } from '../api/types';

export type DecisionTable = NonNullable<NodeSpec['decide']>;
export type Rule = DecisionTable['rules'][number];

/** The table a new node starts with: one input, one catch-all rule. */
export function emptyTable(): DecisionTable {
  return { hit: 'first', inputs: ['field'], rules: [{ when: ['-'], then: {} }] };
}

/** How a cell is shown: `-` for any, a list as `a, b`, a value as its text. */
export function cellText(cell: unknown): string {
  if (cell === null || cell === undefined) return '-';
  if (Array.isArray(cell)) return cell.map(cellText).join(', ');
  return String(cell);
}

/** What a cell's text means: `-` (or nothing) is any; `a, b` a list; a number or true/false that value; else the text (comparisons and ranges stay text, as the engine reads them). */
export function cellValue(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === '-') return '-';
  const isRange = /^[[(].*\.\..*[\])]$/.test(trimmed);
  if (!isRange && trimmed.includes(',')) return trimmed.split(',').map((part) => cellValue(part));
  if (trimmed === 'true' || trimmed === 'false') return trimmed === 'true';
  if (/^-?\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  return trimmed;
}

/** The `then` of a rule as text, and back: `Err` says why the text is not a JSON object. */
export function thenText(rule: Rule): string {
  return Object.keys(rule.then).length === 0 ? '{}' : JSON.stringify(rule.then);
}

export function parseThen(text: string): { ok: true; then: Rule['then'] } | { ok: false; error: string } {
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, error: 'a JSON object, such as {"discount": 10}' };
    return { ok: true, then: value as Rule['then'] };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

export function setCell(table: DecisionTable, rule: number, column: number, text: string): DecisionTable {
  const rules = table.rules.map((r, i) => (i === rule ? { ...r, when: r.when.map((c, j) => (j === column ? cellValue(text) : c)) } : r));
  return { ...table, rules };
}

export function setThen(table: DecisionTable, rule: number, then: Rule['then']): DecisionTable {
  return { ...table, rules: table.rules.map((r, i) => (i === rule ? { ...r, then } : r)) };
}

export function setInput(table: DecisionTable, column: number, path: string): DecisionTable {
  return { ...table, inputs: table.inputs.map((p, j) => (j === column ? path : p)) };
}

/** A new column at the end: any value in every rule. */
export function addInput(table: DecisionTable): DecisionTable {
  return { ...table, inputs: [...table.inputs, `field${table.inputs.length + 1}`], rules: table.rules.map((r) => ({ ...r, when: [...r.when, '-'] })) };
}

export function removeInput(table: DecisionTable, column: number): DecisionTable {
  const drop = <T,>(list: T[]) => list.filter((_, j) => j !== column);
  return { ...table, inputs: drop(table.inputs), rules: table.rules.map((r) => ({ ...r, when: drop(r.when) })) };
}

/** A new rule at the end: any value in every column, no fields. */
export function addRule(table: DecisionTable): DecisionTable {
  return { ...table, rules: [...table.rules, { when: table.inputs.map(() => '-'), then: {} }] };
}

export function removeRule(table: DecisionTable, rule: number): DecisionTable {
  return { ...table, rules: table.rules.filter((_, i) => i !== rule) };
}
