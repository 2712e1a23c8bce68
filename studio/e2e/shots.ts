// Screenshots for docs/studio.md, made by the browser tests when
// STUDIO_SCREENSHOTS=1 (`STUDIO_SCREENSHOTS=1 npx playwright test`), so the
// docs show the studio as it is.
import { join } from 'node:path';
import type { Page } from '@playwright/test';

export async function shot(page: Page, name: string) {
  if (!process.env.STUDIO_SCREENSHOTS) return;
  await page.screenshot({ path: join(import.meta.dirname, '../../docs/studio', `${name}.png`) });
}
