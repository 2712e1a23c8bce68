// A workflow's page: deploy an edited YAML as a new version, see the server's
// validation problems for a broken one, diff versions and roll back, and
// deactivate it (its webhook stops answering).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { signIn, token, url } from './session';

/** Deploy a copy of lead-intake under `id`, its hook at /hooks/{id}/leads. */
async function deployCopy(id: string) {
  const text = readFileSync(join(import.meta.dirname, '../../examples/workflows/lead-intake.yaml'), 'utf8');
  const response = await fetch(`${url()}/api/v1/workflows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/yaml' },
    body: text.replace('id: lead-intake', `id: ${id}`),
  });
  expect(response.status).toBe(201);
}

async function fire(id: string) {
  const response = await fetch(`${url()}/hooks/${id}/leads`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'bo@example.com', score: 90 }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

test('edit as YAML, see a broken version refused, diff and roll back, deactivate', async ({ page }) => {
  const id = `versioned-${Date.now()}`;
  await deployCopy(id);
  await signIn(page);
  await page.getByRole('link', { name: id }).click();
  await expect(page.getByRole('heading', { level: 1 })).toContainText('v1');

  // A new version from edited YAML.
  await page.getByRole('button', { name: 'Edit as YAML' }).click();
  const editor = page.getByLabel('Definition');
  const yaml = await editor.inputValue();
  expect(yaml).toContain(`id: ${id}`);
  await editor.fill(yaml.replace('priority: hot', 'priority: very-hot'));
  await page.getByRole('button', { name: 'Deploy as a new version' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toContainText('v2');
  expect((await fire(id)).body.priority).toBe('very-hot');

  // A broken one is refused with the location of the problem; nothing changes.
  await page.getByRole('button', { name: 'Edit as YAML' }).click();
  const current = await page.getByLabel('Definition').inputValue();
  await page.getByLabel('Definition').fill(current.replace('node: if', 'node: iff'));
  await page.getByRole('button', { name: 'Deploy as a new version' }).click();
  const alert = page.getByRole('alert');
  await expect(alert).toContainText('nodes[1](is-hot).node');
  await expect(alert).toContainText('iff');
  await page.getByRole('button', { name: 'Edit as YAML' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toContainText('v2');

  // v1 against v2, then back to v1.
  await page.getByRole('button', { name: 'v1', exact: true }).click();
  const diff = page.getByLabel('Changes from v2 to v1');
  await expect(diff.locator('.line.removed')).toContainText(['priority: very-hot']);
  await expect(diff.locator('.line.added')).toContainText(['priority: hot']);
  await page.getByRole('button', { name: 'Roll back to v1' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toContainText('v1');
  expect((await fire(id)).body.priority).toBe('hot');

  // Deactivated, its hook is gone; activated, it is back.
  await page.getByRole('button', { name: 'Deactivate' }).click();
  const badge = page.getByRole('heading', { level: 1 }).locator('.badge');
  await expect(badge).toHaveText('inactive');
  expect((await fire(id)).status).toBe(404);
  await page.getByRole('button', { name: 'Activate' }).click();
  await expect(badge).toHaveText('active');
  expect((await fire(id)).status).toBe(201);
});

test('a workflow is imported from YAML, then deleted, refused while an execution of it waits', async ({ page }) => {
  const id = `doomed-${Date.now()}`;
  await signIn(page);
  await page.getByRole('button', { name: 'Import YAML' }).click();
  const imported = page.getByRole('region', { name: 'Import a workflow' });
  await imported.getByLabel('Definition').fill(
    [
      `id: ${id}`,
      'triggers: [{id: go, type: manual}]',
      'nodes: [{id: hold, uses: "wirework/core@^0.1", node: wait, config: {event: "never.comes"}}]',
      'connections: [{from: go, to: hold}]',
    ].join('\n'),
  );
  await imported.getByRole('button', { name: 'Deploy as a new version' }).click();
  await expect(page).toHaveURL(new RegExp(`#/workflows/${id}$`));
  const started = await fetch(`${url()}/api/v1/workflows/${id}/executions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token()}` },
  });
  const { execution_id: waiting } = (await started.json()) as { execution_id: string };
  await page.reload();
  await page.getByRole('button', { name: 'Delete…' }).click();
  const confirm = page.getByRole('group', { name: 'Delete the workflow' });
  await expect(confirm).toContainText('1 version');
  await confirm.getByRole('button', { name: `Delete ${id}` }).click();
  await expect(confirm.getByRole('alert')).toContainText(waiting);
  await expect(page.getByRole('heading', { level: 1 })).toContainText(id);

  const cancelled = await fetch(`${url()}/api/v1/executions/${waiting}/cancel`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token()}` },
  });
  expect(cancelled.status).toBe(200);
  await confirm.getByRole('button', { name: `Delete ${id}` }).click();
  await expect(page).toHaveURL(/#\/workflows$/);
  await expect(page.getByRole('link', { name: id })).toHaveCount(0);
  const gone = await fetch(`${url()}/api/v1/workflows/${id}`, { headers: { authorization: `Bearer ${token()}` } });
  expect(gone.status).toBe(404);
});
