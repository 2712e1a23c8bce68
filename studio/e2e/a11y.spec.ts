// Every screen checked by axe (the accessibility engine browsers' own tools
// use) for WCAG A and AA problems: form fields without labels, buttons and
// links without names, contrast, ... and reached from the keyboard alone.
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { token, url } from './session';

async function violations(page: Page) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
  return results.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

test('every screen passes axe, and is reached with the keyboard', async ({ page }) => {
  await page.goto(`${url()}/`);
  // The check sees a field without a label (so that its silence means something).
  await page.evaluate(() => document.body.append(Object.assign(document.createElement('input'), { id: 'unlabelled' })));
  expect((await violations(page)).join('\n')).toContain('#unlabelled');
  await page.evaluate(() => document.getElementById('unlabelled')?.remove());
  await page.getByLabel('API token').focus();
  expect(await violations(page), 'sign-in').toEqual([]);
  // Signed in with the keyboard only: the token field has the focus.
  await expect(page.getByLabel('API token')).toBeFocused();
  await page.keyboard.type(token());
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { name: 'Workflows' })).toBeVisible();

  const screens: [string, string, () => Promise<void>][] = [
    ['workflows', '#/workflows', () => expect(page.getByRole('link', { name: 'lead-intake' })).toBeVisible()],
    ['workflow', '#/workflows/lead-intake', () => expect(page.getByTestId('node-stamp')).toBeVisible()],
    ['editor', '#/edit/lead-intake', () => expect(page.getByTestId('node-stamp')).toBeVisible()],
    ['executions', '#/executions', () => expect(page.getByRole('heading', { name: 'Executions' })).toBeVisible()],
    ['plugins', '#/plugins', () => expect(page.getByRole('article', { name: /^wirework\/core@/ })).toBeVisible()],
    ['credentials', '#/credentials', () => expect(page.getByRole('heading', { name: 'Credentials' })).toBeVisible()],
    ['dashboard', '#/dashboard', () => expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible()],
  ];
  for (const [name, hash, loaded] of screens) {
    await page.goto(`${url()}/${hash}`);
    await loaded();
    expect(await violations(page), name).toEqual([]);
  }
  // The editor's inspector, a node selected from the keyboard.
  await page.goto(`${url()}/#/edit/lead-intake`);
  const selected = page.getByRole('complementary', { name: 'Inspector' }).getByLabel('Selected');
  await selected.focus();
  await selected.selectOption('is-hot');
  await expect(page.getByRole('complementary', { name: 'Inspector' }).getByRole('heading', { name: 'is-hot' })).toBeVisible();
  expect(await violations(page), 'editor with a node selected').toEqual([]);

  // An execution's page.
  const fired = await fetch(`${url()}/hooks/lead-intake/leads`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'axe@example.com', score: 5 }),
  });
  const { execution } = (await fired.json()) as { execution: string };
  await page.goto(`${url()}/#/executions/${execution}`);
  await expect(page.getByRole('complementary', { name: 'Step trace' })).toBeVisible();
  expect(await violations(page), 'execution').toEqual([]);
});
