// A decision table built and edited as a table in the editor: inputs and
// rules typed into cells, a test run deciding an item, a rule the ones
// above cover shown as the server's problem, and the saved definition.
import { expect, test } from '@playwright/test';
import { signIn, token, url } from './session';
import { shot } from './shots';

test('a decision table is edited as a table, test-run, checked and saved', async ({ page }) => {
  const id = `pricing-${Date.now()}`;
  await signIn(page);
  await page.getByRole('link', { name: 'New workflow' }).click();
  await page.getByLabel('Workflow id').fill(id);
  const inspector = page.getByRole('complementary', { name: 'Inspector' });

  await page.getByLabel('Search node types').fill('manual');
  await page.getByRole('button', { name: 'Add Manual trigger' }).click();
  await page.getByLabel('Search node types').fill('decision');
  await page.getByRole('button', { name: 'Add Decision table' }).click();
  await inspector.getByLabel('Selected').selectOption('manual');
  await inspector.getByLabel('To node').selectOption('decide');
  await inspector.getByRole('button', { name: 'Connect' }).click();
  await inspector.getByLabel('Selected').selectOption('decide');

  const table = inspector.getByRole('group', { name: 'Decision table' });
  await table.getByLabel('Input 1', { exact: true }).fill('tier');
  await table.getByRole('button', { name: 'Add input' }).click();
  await table.getByLabel('Input 2', { exact: true }).fill('total');
  const cell = async (label: string, text: string) => {
    await table.getByLabel(label, { exact: true }).fill(text);
    await table.getByLabel(label, { exact: true }).blur();
  };
  await cell('Rule 1, tier', 'gold');
  await cell('Rule 1, total', '>= 100');
  await cell('Rule 1 sets', '{"discount": 15}');
  await table.getByRole('button', { name: 'Add rule' }).click();
  await cell('Rule 2, tier', 'gold, silver');
  await cell('Rule 2 sets', '{"discount": 5}');
  await table.getByLabel('Rule 2 sets', { exact: true }).fill('{discount');
  await expect(table.getByRole('alert')).toBeVisible();
  await cell('Rule 2 sets', '{"discount": 5}');
  await expect(page.getByTestId('node-decide')).toContainText('decision table · 2 rules');

  // Decided in a test run, by the engine.
  await page.getByLabel(/Sample input/).fill('{"tier": "gold", "total": 150}');
  await page.getByRole('button', { name: 'Test run' }).click();
  await expect(page.getByRole('status', { name: 'Last test run' })).toContainText('succeeded');
  await expect(inspector.getByLabel('Output of decide')).toContainText('"discount": 15');
  await shot(page, 'editor-decision-table');

  // A rule the one above covers: the server's problem, on the node.
  await cell('Rule 2, tier', 'gold');
  await cell('Rule 2, total', '>= 200');
  await page.getByRole('button', { name: 'Save as a new version' }).click();
  await expect(page.getByTestId('node-decide')).toContainText('rule 2 can never match');

  // Fixed, saved: the definition holds the table as typed.
  await cell('Rule 2, tier', 'silver');
  await page.getByRole('button', { name: 'Save as a new version' }).click();
  await expect(page).toHaveURL(new RegExp(`#/workflows/${id}$`));
  const answer = await fetch(`${url()}/api/v1/workflows/${id}`, { headers: { authorization: `Bearer ${token()}` } });
  const definition = ((await answer.json()) as { definition: { nodes: { id: string; decide?: unknown }[] } }).definition;
  expect(definition.nodes.find((n) => n.id === 'decide')?.decide).toEqual({
    hit: 'first',
    inputs: ['tier', 'total'],
    rules: [
      { when: ['gold', '>= 100'], then: { discount: 15 } },
      { when: ['silver', '>= 200'], then: { discount: 5 } },
    ],
  });
});
