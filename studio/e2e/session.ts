// What every browser test needs: the server e2e/server.ts started, its
// token, and signing in through the page.
import { expect, type Page } from '@playwright/test';

/** The studio's address (set by e2e/server.ts). */
export const url = () => process.env.WIREWORK_STUDIO_URL ?? '';
/** The server's admin token (set by e2e/server.ts). */
export const token = () => process.env.WIREWORK_TEST_TOKEN ?? '';

/** Sign in with the token, as a user would, and wait for the workflow list. */
export async function signIn(page: Page) {
  await page.goto(`${url()}/`);
  await page.getByLabel('API token').fill(token());
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Workflows' })).toBeVisible();
}
