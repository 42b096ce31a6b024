import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import chromium from "@sparticuz/chromium";
import axe from "axe-core";
type Document = Parameters<typeof axe.run>[0];
import { chromium as playwright, type Browser, type BrowserContext, type Locator, type Page } from "playwright-core";

/**
 * Real Chromium for the portal tests, driven by playwright-core. The browser comes from npm
 * (`@sparticuz/chromium` extracts its binary); `CHROME_PATH` overrides it (a Mac's Chrome, Debian's
 * `chromium`). A missing browser fails the run: it never skips.
 */
/**
 * Where the run's screenshots go: reports/portal/ (not committed), so that `npm test` leaves the
 * tree clean. `PORTAL_SCREENSHOTS=docs/portal npm run test:e2e -- -t portal` refreshes the docs' copies.
 */
export const SCREENSHOTS = resolve(import.meta.dirname, "..", "..", process.env.PORTAL_SCREENSHOTS ?? join("reports", "portal"));

export async function launchBrowser(): Promise<Browser> {
  const executablePath = process.env.CHROME_PATH || (await chromium.executablePath());
  if (!executablePath || !existsSync(executablePath)) {
    throw new Error(`no Chromium at "${executablePath}": install the dev dependencies (npm ci) or set CHROME_PATH to a Chrome or Chromium binary`);
  }
  return playwright.launch({
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

/** A page with every console error and uncaught exception collected, for the test to assert none. */
export interface WatchedPage {
  context: BrowserContext;
  page: Page;
  /** Console errors and page errors so far. */
  errors: string[];
}

export async function openPage(browser: Browser, url: string): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, locale: "en-GB", timezoneId: "UTC" });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(url).origin });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  await page.goto(url);
  return { context, page, errors };
}

/**
 * axe-core on the page as it is now: no serious or critical violation. Returns the violations of
 * lesser impact, for information.
 */
export async function checkAccessibility(page: Page, screen: string): Promise<void> {
  // The page's CSP allows no inline script: axe is evaluated through the DevTools protocol instead.
  if (!(await page.evaluate(() => "axe" in globalThis))) await page.evaluate(axe.source);
  const result: axe.AxeResults = await page.evaluate(() => {
    const g = globalThis as unknown as { axe: typeof axe; document: unknown };
    return g.axe.run(g.document as Document, { resultTypes: ["violations"] });
  });
  const bad = result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${screen}: ${v.id} (${v.impact}) ${v.help}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  if (bad.length) throw new Error(bad.join("\n"));
}

/** A PNG of the page, in SCREENSHOTS. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/**
 * Clicks `refresh` until `target` is visible, up to a deadline (the log fills as the worker delivers);
 * a generous one: beside a CPU-heavy process the worker's retries run several times slower.
 */
export async function refreshUntil(refresh: Locator, target: Locator, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await target.first().isVisible()) return;
    if (Date.now() > deadline) throw new Error(`never became visible: ${target}`);
    await refresh.click();
    await target
      .first()
      .waitFor({ state: "visible", timeout: 1_000 })
      .catch(() => {});
  }
}

/** Presses Tab until `target` has the focus (keyboard-only flows), at most `max` times. */
export async function tabTo(page: Page, target: Locator, max = 60): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (await target.evaluate((el) => el === (globalThis as unknown as { document: { activeElement: unknown } }).document.activeElement).catch(() => false))
      return;
    await page.keyboard.press("Tab");
  }
  throw new Error(`Tab never reached ${target}`);
}
