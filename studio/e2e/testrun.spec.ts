// Test runs in the editor: a draft built with the keyboard only (Add, the
// inspector's Connect), run with typed sample input, its steps' states and
// outputs on the canvas; a failing node's output pinned by hand so the next
// run skips calling it; a run from one node; items shown as text.
import { expect, test } from '@playwright/test';
import { signIn, token, url } from './session';
import { shot } from './shots';

test('a draft is test-run with sample input; a pinned node is not called; a run from one node', async ({ page }) => {
  const id = `trial-${Date.now()}`;
  await signIn(page);
  await page.getByRole('link', { name: 'New workflow' }).click();
  await page.getByLabel('Workflow id').fill(id);
  const inspector = page.getByRole('complementary', { name: 'Inspector' });

  // Built without a pointer: Add from the palette, Connect in the inspector.
  await page.getByLabel('Search node types').fill('manual');
  await page.getByRole('button', { name: 'Add Manual trigger' }).press('Enter');
  await page.getByLabel('Search node types').fill('http request');
  await page.getByRole('button', { name: /^Add HTTP request/ }).press('Enter');
  await inspector.getByRole('textbox', { name: /^url/ }).fill('http://127.0.0.1:9/down');
  await page.getByLabel('Search node types').fill('noop');
  await page.getByRole('complementary', { name: 'Palette' }).getByRole('button', { name: /^Add / }).first().press('Enter');
  const last = (await inspector.getByRole('heading', { level: 2 }).textContent()) ?? '';
  await inspector.getByLabel('Selected').selectOption('manual');
  await inspector.getByLabel('To node').selectOption('request');
  await inspector.getByRole('button', { name: 'Connect' }).press('Enter');
  await inspector.getByLabel('Selected').selectOption('request');
  await inspector.getByLabel('To node').selectOption(last);
  await inspector.getByRole('button', { name: 'Connect' }).press('Enter');
  await expect(page.locator('.react-flow__edge')).toHaveCount(2);
  await expect(inspector.getByRole('group', { name: 'Connections' })).toContainText(`main → ${last}`);

  // Sample input that is not JSON is refused before anything runs.
  await page.getByLabel(/Sample input/).fill('{not json');
  await page.getByRole('button', { name: 'Test run' }).click();
  await expect(page.getByRole('alert')).toContainText('Sample input');

  // The call fails (its host is not granted): the run shows it on the node.
  await page.getByLabel(/Sample input/).fill('{"email": "ann@example.com"}');
  await page.getByRole('button', { name: 'Test run' }).click();
  await expect(page.getByRole('status', { name: 'Last test run' })).toContainText('failed');
  await expect(page.getByTestId('node-request')).toHaveAttribute('data-state', 'failed');
  await expect(inspector.getByRole('region', { name: 'Test data of request' })).toContainText('Failed in the last test run');

  // Pinned by hand, with markup in it: the next run does not call it, and
  // what flows on is shown as text.
  await inspector.getByRole('button', { name: 'Pin an output by hand' }).click();
  const pinned = '[{"status": 200, "body": {"name": "<script>window.pwned = 1</script>"}}]';
  await inspector.getByLabel(/Pinned output/).fill(pinned);
  await inspector.getByRole('button', { name: 'Apply pinned output' }).click();
  await expect(page.getByTestId('node-request')).toContainText('pinned');
  await page.getByRole('button', { name: 'Test run' }).click();
  await expect(page.getByRole('status', { name: 'Last test run' })).toContainText('succeeded');
  await expect(page.getByTestId('node-request')).toHaveAttribute('data-state', 'succeeded');
  await expect(page.getByTestId(`node-${last}`)).toContainText('1 item');
  await inspector.getByLabel('Selected').selectOption(last);
  await expect(inspector.getByLabel(`Output of ${last}`)).toContainText('<script>window.pwned = 1</script>');
  expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
  await shot(page, 'editor-test-run');

  // Run from the last node: the nodes before it stand in with their output.
  await inspector.getByRole('button', { name: 'Run from here' }).click();
  await expect(page.getByRole('status', { name: 'Last test run' })).toContainText('succeeded');

  // The run is an execution like any other, of the draft, not a version.
  await page.getByRole('link', { name: 'open its execution' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toContainText(`Test run 3 of ${id}`);
  const trace = page.getByRole('complementary', { name: 'Step trace' });
  await trace.getByLabel('Node').selectOption('request');
  await expect(trace).toContainText('pinned for this test run');
  const deployed = await fetch(`${url()}/api/v1/workflows/${id}`, { headers: { authorization: `Bearer ${token()}` } });
  expect(deployed.status).toBe(404);
});
