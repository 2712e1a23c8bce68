// The visual editor: the lead-intake example built from an empty canvas by
// drag and drop, configured, saved, activated, fired and watched live; then
// broken, with the server's error shown on the node it names.
import { expect, test } from '@playwright/test';
import { signIn, token, url } from './session';
import { shot } from './shots';

interface Definition {
  nodes: { id: string }[];
  connections: { from: string; to: string }[];
  layout?: { positions: Record<string, { x: number; y: number }> };
}

/** A workflow's current definition, as the server has it. */
async function definitionOf(id: string): Promise<Definition> {
  const answer = await fetch(`${url()}/api/v1/workflows/${id}`, { headers: { authorization: `Bearer ${token()}` } });
  expect(answer.status).toBe(200);
  return ((await answer.json()) as { definition: Definition }).definition;
}

test('build the lead-intake workflow by drag and drop, save, activate, fire it, watch it live, break it', async ({ page }) => {
  const id = `intake-${Date.now()}`;
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

  /** Drop a node type at (x, y), name it, and configure it as JSON. */
  const place = async (type: string, x: number, y: number, name: string, config?: unknown) => {
    await page.getByTestId(`palette-${type}`).dragTo(canvas, { targetPosition: { x, y } });
    const id = inspector.getByLabel('Id', { exact: true });
    await id.fill(name);
    await id.press('Enter');
    await expect(page.getByTestId(`node-${name}`)).toBeVisible();
    if (config !== undefined) {
      await inspector.getByText('Configuration as JSON').click();
      await inspector.getByLabel('Configuration (JSON)').fill(JSON.stringify(config));
      await inspector.getByRole('button', { name: 'Apply configuration' }).click();
    }
  };
  await place('wirework/core/webhook', 60, 200, 'form');
  await inspector.getByLabel('Path').fill('leads');
  await inspector.getByLabel('Mode').selectOption('sync');
  await place('wirework/core/set', 260, 200, 'stamp', { fields: { stage: 'new', received_at: '{{ $now }}' } });
  await place('wirework/core/if', 460, 200, 'is-hot', { condition: { field: 'score', op: 'gte', value: 50 } });
  await place('wirework/core/set', 660, 90, 'hot', { fields: { priority: 'hot' } });
  await place('wirework/core/set', 660, 330, 'normal', { fields: { priority: 'normal' } });
  await place('wirework/core/respond', 860, 200, 'answer', {
    status: 201,
    body: { lead: '{{ $json.email }}', stage: '{{ $json.stage }}', priority: '{{ $json.priority }}', execution: '{{ $execution.id }}' },
  });

  // Laid out (the drops may overlap), then connected port to port by
  // dragging; `if` has its true and false ports.
  await page.getByRole('button', { name: 'Lay out' }).click();
  for (const [from, to] of [
    ['form-main', 'stamp'],
    ['stamp-main', 'is-hot'],
    ['is-hot-true', 'hot'],
    ['is-hot-false', 'normal'],
    ['hot-main', 'answer'],
    ['normal-main', 'answer'],
  ]) {
    await page.getByTestId(`port-${from}`).dragTo(page.getByTestId(`port-${to}-in`));
  }
  await expect(page.locator('.react-flow__edge')).toHaveCount(6);
  await page.getByRole('button', { name: 'Lay out' }).click();
  await shot(page, 'editor');

  await page.getByRole('button', { name: 'Save as a new version' }).click();
  await expect(page).toHaveURL(new RegExp(`#/workflows/${id}$`));
  await expect(page.getByRole('heading', { level: 1 })).toContainText('v1');
  // What was built is the example (examples/workflows/lead-intake.yaml, which
  // the test server deployed): the same nodes and connections.
  const definition = await definitionOf(id);
  const example = await definitionOf('lead-intake');
  expect(definition.nodes).toEqual(example.nodes);
  const byText = (c: { from: string; to: string }) => `${c.from}->${c.to}`;
  expect(definition.connections.map(byText).sort()).toEqual(example.connections.map(byText).sort());
  // Where each box was drawn is kept with it, for the next edit.
  expect(Object.keys(definition.layout?.positions ?? {}).sort()).toEqual(['answer', 'form', 'hot', 'is-hot', 'normal', 'stamp']);

  // Deactivated, its webhook is gone; activated, it answers.
  const fire = (score: number) =>
    fetch(`${url()}/hooks/${id}/leads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'cy@example.com', score }),
    });
  await page.getByRole('button', { name: 'Deactivate' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toContainText('inactive');
  expect((await fire(72)).status).toBe(404);
  await page.getByRole('button', { name: 'Activate' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toContainText('active');

  // Fired while the execution list is open: it appears live, and opens with its trace.
  await page.getByRole('link', { name: 'Executions' }).click();
  await page.getByLabel('Workflow').selectOption(id);
  const fired = await fire(72);
  expect(fired.status).toBe(201);
  const answer = (await fired.json()) as { priority: string; execution: string };
  expect(answer.priority).toBe('hot');
  // Its own row, by its whole id: a UUIDv7's first characters are a time
  // prefix that other executions of the same minute share.
  const row = page.getByTestId(`execution-${answer.execution}`);
  await expect(row).toContainText('succeeded');
  await row.getByRole('link').first().click();
  await expect(page.getByTestId('node-hot')).toHaveAttribute('data-state', 'succeeded');
  await expect(page.getByTestId('node-normal')).not.toHaveAttribute('data-state', 'succeeded');
  const trace = page.getByRole('complementary', { name: 'Step trace' });
  await trace.getByLabel('Node').selectOption('answer');
  await expect(trace).toContainText('cy@example.com');

  // Broken: a status the node's schema refuses. Saved, the server's problem
  // shows on the node; no new version.
  await page.goto(`${url()}/#/edit/${id}`);
  await page.getByTestId('node-answer').click();
  await inspector.getByRole('spinbutton', { name: 'status' }).fill('42');
  await page.getByRole('button', { name: 'Save as a new version' }).click();
  await expect(page.getByTestId('node-answer')).toContainText('status');
  await expect(page.getByTestId('node-answer').locator('.box-problem')).toBeVisible();
  // And on the field it names, in the node's form.
  await expect(inspector.locator('[id="config-answer_status__error"]')).toContainText('42');
  await expect(page.getByTestId('node-stamp').locator('.box-problem')).toHaveCount(0);
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
