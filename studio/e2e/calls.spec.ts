// A workflow that calls another: the parent's step links to the child's
// execution, and the child's page links back to the step that started it.
import { expect, test } from '@playwright/test';
import { signIn, token, url } from './session';

async function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${url()}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${token()}`, ...(init.headers ?? {}) } });
}

test('a called execution is linked from its step and back', async ({ page }) => {
  const stamp = Date.now();
  const child = `enrich-${stamp}`;
  const parent = `intake-${stamp}`;
  const deploy = async (yaml: string) => expect((await api('/workflows', { method: 'POST', body: yaml })).status).toBe(201);
  await deploy(`id: ${child}
triggers: [{id: run, type: manual}]
nodes:
  - {id: score, uses: wirework/core@^0.1, node: set, config: {fields: {score: 42}}}
connections: [{from: run, to: score}]
`);
  await deploy(`id: ${parent}
triggers: [{id: run, type: manual}]
nodes:
  - {id: enrich, call: {workflow: ${child}}}
connections: [{from: run, to: enrich}]
`);
  const started = await api(`/workflows/${parent}/executions`, { method: 'POST', body: JSON.stringify({ items: [{ email: 'ann@example.com' }] }) });
  const { execution_id: id } = (await started.json()) as { execution_id: string };

  await signIn(page);
  await page.goto(`${url()}/#/executions/${id}`);
  await expect(page.getByRole('heading', { level: 1 })).toContainText('succeeded');
  const trace = page.getByRole('complementary', { name: 'Step trace' });
  await trace.getByLabel('Node').selectOption('enrich');
  await expect(trace).toContainText('"score": 42');
  await trace.getByRole('link', { name: /^[0-9a-f-]{36}$/ }).first().click();
  await expect(page.getByRole('heading', { level: 1 })).toContainText(child);
  await expect(page.getByText(/Called by step \d+ \(enrich\) of execution/)).toBeVisible();
  await page.getByRole('link', { name: id }).click();
  await expect(page.getByRole('heading', { level: 1 })).toContainText(parent);
  // Waiting on a call is not an event to send by hand.
  await expect(page.getByRole('button', { name: /Send/ })).toHaveCount(0);
});
