import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffYaml, fromYaml, toYaml } from './yaml';

const examples = join(import.meta.dirname, '../../../examples/workflows');

describe('YAML', () => {
  it('exports every example so that importing it gives the same workflow', () => {
    for (const name of readdirSync(examples).filter((n) => n.endsWith('.yaml'))) {
      const definition = fromYaml(readFileSync(join(examples, name), 'utf8'));
      expect(fromYaml(toYaml(definition))).toEqual(definition);
    }
  });

  it('refuses what is not a workflow mapping', () => {
    expect(() => fromYaml('- a\n- b\n')).toThrow(/mapping/);
    expect(() => fromYaml('id: [unclosed')).toThrow();
  });

  it('diffs two versions line by line', () => {
    const before = { id: 'w', triggers: [], nodes: [{ id: 'a', uses: 'wirework/core@^0.1', node: 'noop' }] };
    const after = { ...before, nodes: [{ id: 'a', uses: 'wirework/core@^0.1', node: 'set' }] };
    const lines = diffYaml(before, after);
    expect(lines.filter((l) => l.kind === 'removed').map((l) => l.text.trim())).toEqual(['node: noop']);
    expect(lines.filter((l) => l.kind === 'added').map((l) => l.text.trim())).toEqual(['node: set']);
    expect(lines.some((l) => l.kind === 'same' && l.text === 'id: w')).toBe(true);
  });
});
