import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { chromium } from 'playwright-core';

import { repoRoot } from '../../src/platform/paths.js';

/** Debian's chromium package; playwright-core drives it and downloads no browser of its own. */
export const CHROMIUM = '/usr/bin/chromium';

/** Screenshots the page tests keep (git-ignored, under .local/). */
export const ARTIFACTS_DIR = join(repoRoot, '.local', 'test-artifacts');

export interface OpenedPage {
  readonly consoleErrors: readonly string[];
  /** Requests for anything but the page itself: a self-contained page makes none. */
  readonly otherRequests: readonly string[];
  /** Per chart (its figure's data-title), the data points ECharts drew (its symbols, one per point). */
  readonly charts: readonly { readonly title: string; readonly status: string | null; readonly points: number }[];
}

/** The little of a DOM element the chart count reads (the workspace compiles without the DOM library). */
interface FigureElement {
  getAttribute(name: string): string | null;
  querySelectorAll(selector: string): { readonly length: number };
}

/** Opens an HTML file in headless Chromium, collects what went wrong, counts the charts' points, screenshots it. */
export async function openInChromium(file: string, screenshot: string): Promise<OpenedPage> {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: run scripts/bootstrap (it installs Debian's chromium package)`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const consoleErrors: string[] = [];
    const otherRequests: string[] = [];
    const url = pathToFileURL(file).href;
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    page.on('request', (request) => {
      if (request.url() !== url) otherRequests.push(request.url());
    });
    await page.goto(url, { waitUntil: 'load' });
    const charts = await page.$$eval('figure.chart', (figures: unknown[]) =>
      figures.map((element) => {
        const figure = element as FigureElement;
        return {
          title: figure.getAttribute('data-title') ?? '(untitled)',
          status: figure.getAttribute('data-status'),
          // A drawn point is a series symbol: not a legend entry, not a silent band or threshold line.
          points: figure.querySelectorAll('svg [ecmeta_ssr_type="chart"][ecmeta_data_index]:not([ecmeta_silent])')
            .length,
        };
      }),
    );
    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    return { consoleErrors, otherRequests, charts };
  } finally {
    await browser.close();
  }
}
