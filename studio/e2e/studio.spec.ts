// The studio in a real browser against a real server (see server.ts).
import { expect, test } from '@playwright/test';
import { token, url } from './session';
import { shot } from './shots';

test('the page is served with a strict Content-Security-Policy', async ({ page }) => {
  const response = await page.goto(`${url()}/`);
  const headers = response?.headers() ?? {};
  expect(headers['content-security-policy']).toContain("script-src 'self'");
  expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
  expect(headers['x-content-type-options']).toBe('nosniff');
});

test('sign in with a token, open a workflow on the canvas, sign out', async ({ page, context }) => {
  await page.goto(`${url()}/`);
  const field = page.getByLabel('API token');
  await field.fill('ww_not_a_token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('That token is not valid.');

  await field.fill(token());
  await field.press('Enter');
  await expect(page.getByRole('heading', { name: 'Workflows' })).toBeVisible();
  const row = page.getByRole('row', { name: /lead-intake/ });
  await expect(row).toContainText('active');
  await expect(row).toContainText('v1');

  // The token lives in an HttpOnly, SameSite=Strict cookie only: never in the
  // URL, never where a script could read it.
  const [cookie] = (await context.cookies()).filter((c) => c.name === 'wirework_session');
  expect(cookie?.httpOnly).toBe(true);
  expect(cookie?.sameSite).toBe('Strict');
  expect(page.url()).not.toContain(token());
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }) + document.cookie);
  expect(stored).not.toContain(token());

  await row.getByRole('link', { name: 'lead-intake' }).click();
  await expect(page).toHaveURL(/#\/workflows\/lead-intake$/);
  await expect(page.getByTestId('node-form')).toContainText('webhook /leads (sync)');
  const nodes = page.locator('.react-flow__node');
  await expect(nodes).toHaveCount(6);
  await expect(page.locator('.react-flow__edge')).not.toHaveCount(0);
  await shot(page, 'workflow');

  // Keyboard: the nav and the sign-out button are reachable and focus shows.
  await page.getByRole('link', { name: 'Workflows', exact: true }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { name: 'Workflows' })).toBeVisible();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByLabel('API token')).toBeVisible();
  await page.reload();
  await expect(page.getByLabel('API token')).toBeVisible();
  const left = (await context.cookies()).filter((c) => c.name === 'wirework_session');
  expect(left).toHaveLength(0);
});

test('the API refuses a cookie-authenticated change without the studio header', async ({ page }) => {
  await page.goto(`${url()}/`);
  await page.getByLabel('API token').fill(token());
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Workflows' })).toBeVisible();
  const status = await page.evaluate(async () => {
    const response = await fetch('/api/v1/workflows/lead-intake/deactivate', { method: 'POST' });
    return response.status;
  });
  expect(status).toBe(403);
  const head = await page.evaluate(async () => (await fetch('/api/v1/workflows')).status);
  expect(head).toBe(200);
});
