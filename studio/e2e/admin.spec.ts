// Credentials (write-only: values typed, sent once, never shown back) and
// plugins (capabilities requested and granted; removal refused while in use).
import { expect, test } from '@playwright/test';
import { signIn, token, url } from './session';
import { shot } from './shots';

test('credentials are created, rotated and deleted, their values never shown back', async ({ page }) => {
  await signIn(page);
  await page.getByRole('link', { name: 'Credentials' }).click();
  await page.getByRole('button', { name: 'New credential' }).click();
  const form = page.getByRole('form', { name: 'New credential' });
  await form.getByLabel('Name', { exact: true }).fill('crm-token');
  await form.getByLabel('Type').selectOption('wirework/http:bearer');
  const secret = 'tok_first_value_8f3a';
  await form.getByLabel('Token', { exact: true }).fill(secret);
  await form.getByRole('button', { name: 'Create' }).click();
  const row = page.getByRole('row', { name: /crm-token/ });
  await expect(row).toContainText('wirework/http:bearer');
  await expect(row).toContainText('token');
  expect(await page.content()).not.toContain(secret);
  const listed = await page.evaluate(async () => (await fetch('/api/v1/credentials')).text());
  expect(listed).toContain('crm-token');
  expect(listed).not.toContain(secret);

  await row.getByRole('button', { name: 'Rotate crm-token' }).click();
  const rotate = page.getByRole('form', { name: 'Rotate crm-token' });
  await expect(rotate.getByLabel('Token', { exact: true })).toHaveValue('');
  await rotate.getByLabel('Token', { exact: true }).fill('tok_second_value_11aa');
  await rotate.getByRole('button', { name: 'Rotate' }).click();
  await expect(page.getByRole('form', { name: 'Rotate crm-token' })).toHaveCount(0);
  expect(await page.content()).not.toContain('tok_second_value_11aa');

  await page.getByRole('button', { name: 'Delete crm-token' }).click();
  await expect(page.getByRole('row', { name: /crm-token/ })).toHaveCount(0);
});

test('plugins show what they request and are granted; one in use is not removed', async ({ page }) => {
  await signIn(page);
  await page.getByRole('link', { name: 'Plugins' }).click();
  const http = page.getByRole('article', { name: /^wirework\/http@/ });
  await expect(http).toContainText('HTTP request');
  await expect(http.getByRole('list', { name: 'Capabilities of wirework/http' })).toContainText('http *: not granted');
  await expect(page.getByRole('article', { name: /^wirework\/core@/ })).toContainText('Respond');

  // `flaky` uses wirework/http: the server refuses, and says why.
  await http.getByRole('button', { name: /Remove wirework\/http@/ }).click();
  await expect(page.getByRole('alert')).toContainText('flaky');
  await expect(page.getByRole('article', { name: /^wirework\/http@/ })).toBeVisible();
});

test('the dashboard charts executions, outcomes and fuel from the server', async ({ page }) => {
  for (let i = 0; i < 3; i++) {
    const fired = await fetch(`${url()}/hooks/lead-intake/leads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `d${i}@example.com`, score: 10 * i }),
    });
    expect(fired.status).toBe(201);
  }
  await signIn(page);
  await page.getByRole('link', { name: 'Dashboard' }).click();
  const finished = page.locator('.tiles div', { hasText: 'Finished (last hour)' }).locator('dd');
  await expect(finished).not.toHaveText('0');
  expect(Number(await finished.textContent())).toBeGreaterThanOrEqual(3);
  await expect(page.getByRole('img', { name: /Executions per minute, last hour: \d+ in all/ })).toBeVisible();
  await expect(page.getByRole('img', { name: 'Fuel per workflow (since the server started)' }).locator('text')).toContainText(['lead-intake']);
  await expect(page.getByRole('img', { name: 'Fuel per plugin (since the server started)' }).locator('text').first()).toContainText(
    'wirework/core@',
  );
  await shot(page, 'dashboard');
});

test('a plugin is installed from a registry after a capability prompt, then upgraded; fuel shows per plugin', async ({ page }) => {
  const registry = process.env.WIREWORK_REGISTRY_URL ?? '';
  await signIn(page);
  await page.getByRole('link', { name: 'Plugins' }).click();
  const install = page.getByRole('region', { name: 'Install from a registry' });
  await install.getByLabel('Registry URL').fill(registry);
  await install.getByLabel('Plugin').fill('wirework/sms@^0.1');

  // A range with no version: the server's refusal, nothing installed.
  await install.getByLabel('Plugin').fill('wirework/sms@^9');
  await install.getByRole('button', { name: 'Review' }).click();
  await expect(install.getByRole('alert')).toContainText('wirework/sms');
  await install.getByLabel('Plugin').fill('wirework/sms@^0.1');
  await install.getByRole('button', { name: 'Review' }).click();
  const prompt = install.getByRole('group', { name: /^Install wirework\/sms / });
  await expect(prompt).toContainText(`From ${registry}, signed by key`);
  // Nothing is granted until ticked; grant the provider's host and the credential only.
  const twilio = prompt.getByLabel('call api.twilio.com over HTTP');
  await expect(twilio).not.toBeChecked();
  await twilio.check();
  await prompt.getByLabel('be handed twilio credentials bound to its nodes').check();
  await shot(page, 'plugins-install');
  await prompt.getByRole('button', { name: 'Install with these grants' }).click();
  await expect(page.getByRole('status')).toContainText(/Installed wirework\/sms 0\.1\.\d+; not granted: .*event/);

  const sms = page.getByRole('article', { name: /^wirework\/sms@/ });
  await expect(sms).toContainText(`from ${registry}`);
  const granted = sms.getByRole('list', { name: 'Capabilities of wirework/sms' });
  await expect(granted).toContainText('http api.twilio.com: granted');
  await expect(granted).toContainText('http *: not granted');
  await expect(granted).toContainText('credential twilio: granted');
  const grants = await fetch(`${url()}/api/v1/plugins/wirework/sms/grants`, { headers: { authorization: `Bearer ${token()}` } });
  expect(await grants.json()).toMatchObject({ http: ['api.twilio.com'], credentials: ['twilio'], kv: false });

  // The newest in its range already: an upgrade says so.
  await sms.getByRole('button', { name: 'Upgrade wirework/sms' }).click();
  await expect(page.getByRole('status')).toContainText(/wirework\/sms: 0\.1\.\d+ is the newest in \^0\.1/);

  // Fuel per plugin version, from the server's metrics (lead-intake runs core nodes).
  const fired = await fetch(`${url()}/hooks/lead-intake/leads`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'fuel@example.com', score: 80 }),
  });
  expect(fired.status).toBe(201);
  await page.reload();
  await expect(page.getByRole('article', { name: /^wirework\/core@/ })).toContainText(/fuel used since the server started: [1-9][\d,]*/);
  await expect(page.getByRole('article', { name: /^wirework\/sms@/ })).toContainText('fuel used since the server started: 0');
});
