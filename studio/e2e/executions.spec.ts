// Executions in the studio: they appear live as the server runs them, open on
// the canvas of the version they ran with every step's items, untrusted data
// shows as text, and a failed one can be retried.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { signIn, token, url } from './session';
import { shot } from './shots';

test('a webhook execution appears live and opens with its step trace; items are text', async ({ page }) => {
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  // A workflow of this test's own (other tests run lead-intake too).
  const id = `live-${Date.now()}`;
  const text = readFileSync(join(import.meta.dirname, '../../examples/workflows/lead-intake.yaml'), 'utf8');
  const deployed = await fetch(`${url()}/api/v1/workflows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/yaml' },
    body: text.replace('id: lead-intake', `id: ${id}`),
  });
  expect(deployed.status).toBe(201);
  await signIn(page);
  await page.getByRole('link', { name: 'Executions' }).click();
  await page.getByLabel('Workflow').selectOption(id);
  await expect(page.getByText('No executions match.')).toBeVisible();

  // Fired from outside the browser: the list learns of it by the server's push.
  const hostile = '<script>alert("pwned")</script><img src=x onerror=alert(1)>';
  const fired = await fetch(`${url()}/hooks/${id}/leads`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'ann@example.com', score: 72, note: hostile }),
  });
  expect(fired.status).toBe(201);
  const row = page.getByRole('table', { name: 'Executions' }).getByRole('row').nth(1);
  await expect(row).toContainText(`${id} v1`);
  await expect(row).toContainText('succeeded');
  await shot(page, 'executions');

  await row.getByRole('link').click();
  await expect(page.getByRole('heading', { name: new RegExp(`Execution of ${id} v1`) })).toContainText('succeeded');
  await expect(page.getByTestId('node-form')).toHaveAttribute('data-state', 'succeeded');
  await page.getByTestId('node-form').click();
  const trace = page.getByRole('complementary', { name: 'Step trace' });
  await expect(trace.getByRole('heading', { level: 2 })).toContainText('form');
  await expect(trace).toContainText('attempt 1');
  // The hostile string is in the trace as text, and nothing ran.
  await expect(trace.locator('pre').first()).toContainText(hostile.replace(/"/g, '\\"'));
  expect(await page.locator('img[src="x"]').count()).toBe(0);
  expect(dialogs).toEqual([]);
  await shot(page, 'execution');
});

test('a failed execution shows its error on the node and is retried', async ({ page }) => {
  await signIn(page);
  const started = await fetch(`${url()}/api/v1/workflows/flaky/executions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/json' },
    body: '{}',
  });
  const { execution_id: id } = (await started.json()) as { execution_id: string };
  await page.goto(`${url()}/#/executions/${id}`);
  await expect(page.getByRole('heading', { name: /Execution of flaky/ })).toContainText('failed');
  await expect(page.getByTestId('node-call')).toHaveAttribute('data-state', 'failed');
  await expect(page.getByRole('alert')).toContainText('call:');
  const trace = page.getByRole('complementary', { name: 'Step trace' });
  await expect(trace.getByRole('article')).toHaveCount(1);

  await page.getByRole('button', { name: 'Retry from the failed step' }).click();
  // The retry is the step's next attempt; it fails again (nothing changed).
  await expect(trace.getByRole('article', { name: /attempt 2/ })).toBeVisible();
  await expect(page.getByRole('heading', { name: /Execution of flaky/ })).toContainText('failed');
});

test('a waiting execution is resumed by sending the event it waits for', async ({ page }) => {
  await signIn(page);
  const started = await fetch(`${url()}/api/v1/workflows/approvals/executions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/json' },
    body: JSON.stringify({ items: [{ request_id: 'r-77' }] }),
  });
  const { execution_id: id } = (await started.json()) as { execution_id: string };
  await page.goto(`${url()}/#/executions/${id}`);
  await expect(page.getByRole('heading', { name: /Execution of approvals/ })).toContainText('waiting');
  await expect(page.getByText('Waiting for the event approval.decided:r-77.')).toBeVisible();
  await page.getByLabel('Payload of approval.decided:r-77').fill('{"decision": "approved", "by": "<b>Dee</b>"}');
  await page.getByRole('button', { name: 'Send approval.decided:r-77' }).click();
  await expect(page.getByRole('heading', { name: /Execution of approvals/ })).toContainText('succeeded');
  await page.getByTestId('node-done').click();
  const trace = page.getByRole('complementary', { name: 'Step trace' });
  await expect(trace.locator('pre').first()).toContainText('"by": "<b>Dee</b>"');
});
