// Workflows as YAML, the form authors keep them in, and the difference
// between two versions line by line.
import { diffLines } from 'diff';
import { parse, stringify } from 'yaml';
import type { WorkflowDefinition } from '../api/types';

/** `definition` as YAML; `fromYaml` of it gives `definition` back. */
export function toYaml(definition: WorkflowDefinition): string {
  return stringify(definition, { lineWidth: 0 });
}

/** The definition in YAML (or JSON) text, or an error saying where it does not parse. */
export function fromYaml(text: string): WorkflowDefinition {
  const value: unknown = parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('a workflow is a mapping (id, triggers, nodes, connections, ...)');
  }
  return value as WorkflowDefinition;
}

/** One line of a diff: kept, added or removed. */
export interface DiffLine {
  kind: 'same' | 'added' | 'removed';
  text: string;
}

/** The lines that differ from `before` to `after`, with the rest kept. */
export function diffYaml(before: WorkflowDefinition, after: WorkflowDefinition): DiffLine[] {
  const lines: DiffLine[] = [];
  for (const part of diffLines(toYaml(before), toYaml(after))) {
    const kind = part.added ? 'added' : part.removed ? 'removed' : 'same';
    for (const text of part.value.replace(/\n$/, '').split('\n')) lines.push({ kind, text });
  }
  return lines;
}
