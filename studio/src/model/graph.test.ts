import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { WorkflowDefinition } from '../api/types';
import { describe as label, graphToWorkflow, joinFrom, splitFrom, workflowToGraph } from './graph';

const examples = join(import.meta.dirname, '../../../examples/workflows');

function example(name: string): WorkflowDefinition {
  return parse(readFileSync(join(examples, name), 'utf8')) as WorkflowDefinition;
}

describe('workflow <-> graph', () => {
  it('labels a node that calls a workflow by the workflow it calls, and keeps the call', () => {
    const workflow: WorkflowDefinition = {
      id: 'intake',
      triggers: [{ id: 'run', type: 'manual' }],
      nodes: [
        { id: 'enrich', uses: '', node: '', call: { workflow: 'enrich-lead', wait: true } },
        { id: 'audit', uses: '', node: '', call: { workflow: 'audit', version: 3, wait: false } },
      ],
      connections: [{ from: 'run', to: 'enrich' }],
    };
    const graph = workflowToGraph(workflow);
    expect(graph.nodes.filter((n) => n.kind === 'node').map(label)).toEqual(['calls enrich-lead', 'calls audit v3 (no wait)']);
    expect(graphToWorkflow(graph, workflow).nodes).toEqual(workflow.nodes);
  });

  it('labels a decision table by its rules', () => {
    const table: WorkflowDefinition = {
      id: 'pricing',
      triggers: [{ id: 'run', type: 'manual' }],
      nodes: [{ id: 'discount', uses: '', node: '', decide: { hit: 'first', inputs: ['tier'], rules: [{ when: ['gold'], then: { discount: 10 } }] } }],
      connections: [{ from: 'run', to: 'discount' }],
    };
    const graph = workflowToGraph(table);
    expect(graph.nodes.filter((n) => n.kind === 'node').map(label)).toEqual(['decision table · 1 rules']);
  });

  it('splits and joins connection ends', () => {
    expect(splitFrom('check')).toEqual({ node: 'check', port: 'main' });
    expect(splitFrom('check:true')).toEqual({ node: 'check', port: 'true' });
    expect(joinFrom('check', 'main')).toBe('check');
    expect(joinFrom('check', 'true')).toBe('check:true');
  });

  it('turns every example into a graph and back unchanged', () => {
    const names = readdirSync(examples).filter((n) => n.endsWith('.yaml'));
    expect(names.length).toBeGreaterThanOrEqual(12);
    for (const name of names) {
      const workflow = example(name);
      const graph = workflowToGraph(workflow);
      expect(graph.nodes).toHaveLength(workflow.triggers.length + workflow.nodes.length);
      expect(graph.edges).toHaveLength(workflow.connections?.length ?? 0);
      expect(graphToWorkflow(graph, workflow)).toEqual(workflow);
    }
  });

  it('lists the ports connections leave from, and loops', () => {
    const graph = workflowToGraph(example('approval.yaml'));
    const manager = graph.nodes.find((n) => n.id === 'manager-says');
    expect(manager?.ports).toEqual(['clarify', 'approved', 'denied']);
    const loop = graph.edges.find((e) => e.source === 'manager-late' && e.target === 'ask-manager');
    expect(loop?.maxIterations).toBe(2);
  });

  it('labels triggers and nodes', () => {
    const graph = workflowToGraph(example('lead-intake.yaml'));
    const [trigger] = graph.nodes;
    expect(trigger && label(trigger)).toMatch(/^webhook \//);
    const node = graph.nodes.find((n) => n.kind === 'node');
    expect(node && label(node)).toMatch(/^wirework\/\w+ · /);
  });
});
