// The visual editor: a workflow built from an empty canvas by drag and drop,
// configured, saved and run; then broken, with the server's error shown on
// the node it names.
import { expect, test, type Page } from '@playwright/test';
import { shot } from './shots';

const url = () => process.env.WIREWORK_STUDIO_URL ?? '';
const token = () => process.env.WIREWORK_TEST_TOKEN ?? '';

async function signIn(page: Page) {
  await page.goto(`${url()}/`);
  await page.getByLabel('API token').fill(token());
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Workflows' })).toBeVisible();
}

test('build a workflow by drag and drop, save, run it, break it', async ({ page }) => {
  const id = `built-${Date.now()}`;
  await signIn(page);
  await page.getByRole('link', { name: 'New workflow' }).click();
  await page.getByLabel('Workflow id').fill(id);
  const canvas = page.getByLabel('Editor canvas');
  const inspector = page.getByRole('complementary', { name: 'Inspector' });

  // The palette comes from the installed plugins, and searches.
  await page.getByLabel('Search node types').fill('respond');
  await expect(page.getByTestId('palette-wirework/core/respond')).toBeVisible();
  await expect(page.getByTestId('palette-wirework/core/set')).toHaveCount(0);
  await page.getByLabel('Search node types').fill('');

  await page.getByTestId('palette-wirework/core/webhook').dragTo(canvas, { targetPosition: { x: 120, y: 120 } });
  await expect(page.getByTestId('node-webhook')).toBeVisible();
  await inspector.getByLabel('Path').fill(id);
  await inspector.getByLabel('Mode').selectOption('sync');

  await page.getByTestId('palette-wirework/core/set').dragTo(canvas, { targetPosition: { x: 420, y: 120 } });
  await expect(page.getByTestId('node-set')).toBeVisible();
  await page.getByTestId('palette-wirework/core/respond').dragTo(canvas, { targetPosition: { x: 720, y: 120 } });
  await expect(page.getByTestId('node-respond')).toBeVisible();
  await inspector.getByLabel('status').fill('201');

  await page.getByTestId('port-webhook-main').dragTo(page.getByTestId('port-set-in'));
  await page.getByTestId('port-set-main').dragTo(page.getByTestId('port-respond-in'));
  await expect(page.locator('.react-flow__edge')).toHaveCount(2);
  await shot(page, 'editor');

  await page.getByRole('button', { name: 'Save as a new version' }).click();
  await expect(page).toHaveURL(new RegExp(`#/workflows/${id}$`));
  await expect(page.getByRole('heading', { level: 1 })).toContainText('v1');
  const fired = await fetch(`${url()}/hooks/${id}/${id}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'cy@example.com' }),
  });
  expect(fired.status).toBe(201);

  // Broken: a status the node's schema refuses. Saved, the server's problem
  // shows on the node; no new version.
  await page.getByRole('link', { name: 'Edit on the canvas' }).click();
  await page.getByTestId('node-respond').click();
  await inspector.getByLabel('status').fill('42');
  await page.getByRole('button', { name: 'Save as a new version' }).click();
  await expect(page.getByTestId('node-respond')).toContainText('status');
  await expect(page.getByTestId('node-respond').locator('.box-problem')).toBeVisible();
  await expect(page.getByTestId('node-set').locator('.box-problem')).toHaveCount(0);
  await shot(page, 'editor-problem');
  const head = await fetch(`${url()}/api/v1/workflows/${id}`, { headers: { authorization: `Bearer ${token()}` } });
  expect(((await head.json()) as { current: number }).current).toBe(1);
});

test('a schedule previews its next runs; a node binds a stored credential', async ({ page }) => {
  const id = `bound-${Date.now()}`;
  const stored = await fetch(`${url()}/api/v1/credentials/api-${id}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'wirework/http:bearer', fields: { token: 'tok_bound_1' } }),
  });
  expect(stored.status).toBe(204);
  await signIn(page);
  await page.getByRole('link', { name: 'New workflow' }).click();
  await page.getByLabel('Workflow id').fill(id);
  const inspector = page.getByRole('complementary', { name: 'Inspector' });

  await page.getByRole('button', { name: 'Add Schedule trigger' }).click();
  await inspector.getByLabel('Cron').fill('30 9 * * 1-5');
  await inspector.getByLabel('Time zone').fill('Europe/Amsterdam');
  const runs = inspector.getByLabel('Next runs').getByRole('listitem');
  await expect(runs).toHaveCount(5);
  await expect(runs.first()).toContainText('T09:30:00+0');
  await inspector.getByLabel('Cron').fill('not a cron');
  await expect(inspector.getByRole('status')).toBeVisible();
  await inspector.getByLabel('Cron').fill('0 8 * * *');

  await page.getByRole('button', { name: /^Add HTTP request/ }).click();
  await inspector.getByLabel('url').fill('https://api.example.com/ping');
  await inspector.getByLabel('Bearer token').selectOption(`api-${id}`);
  await page.getByTestId('port-schedule-main').dragTo(page.getByTestId('port-request-in'));
  await page.getByRole('button', { name: 'Save as a new version' }).click();
  await expect(page).toHaveURL(new RegExp(`#/workflows/${id}$`));
  const saved = await fetch(`${url()}/api/v1/workflows/${id}`, { headers: { authorization: `Bearer ${token()}` } });
  const { definition } = (await saved.json()) as { definition: { nodes: { credentials?: Record<string, string> }[]; triggers: { cron?: string; timezone?: string }[] } };
  expect(definition.nodes[0]?.credentials).toEqual({ bearer: `api-${id}` });
  expect(definition.triggers[0]).toMatchObject({ cron: '0 8 * * *', timezone: 'Europe/Amsterdam' });
});
