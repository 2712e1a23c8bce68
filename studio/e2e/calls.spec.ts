// A workflow that calls another, built in the editor: the parent's step
// links to the child's execution, and the child's page links back to the
// step that started it.
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
  await signIn(page);
  await page.getByRole('link', { name: 'New workflow' }).click();
  await page.getByLabel('Workflow id').fill(parent);
  const inspector = page.getByRole('complementary', { name: 'Inspector' });
  await page.getByLabel('Search node types').fill('manual');
  await page.getByRole('button', { name: 'Add Manual trigger' }).click();
  await page.getByLabel('Search node types').fill('call');
  await page.getByRole('button', { name: 'Add Call a workflow' }).click();
  await inspector.getByRole('combobox', { name: 'Workflow', exact: true }).selectOption(child);
  await inspector.getByLabel('Id', { exact: true }).fill('enrich');
  await inspector.getByRole('button', { name: 'Rename' }).click();
  await inspector.getByLabel('Selected').selectOption('manual');
  await inspector.getByLabel('To node').selectOption('enrich');
  await inspector.getByRole('button', { name: 'Connect' }).click();
  await expect(page.getByTestId('node-enrich')).toContainText(`calls ${child}`);
  await page.getByRole('button', { name: 'Save as a new version' }).click();
  await expect(page).toHaveURL(new RegExp(`#/workflows/${parent}$`));

  const started = await api(`/workflows/${parent}/executions`, { method: 'POST', body: JSON.stringify({ items: [{ email: 'ann@example.com' }] }) });
  const { execution_id: id } = (await started.json()) as { execution_id: string };

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
