/// <reference lib="dom" />
// page.evaluate callbacks run in the browser, hence the DOM types above.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { chromium, type Browser } from 'playwright-core';
import { type ClickHouseService, loadMigrations, MigrationRunner, MIGRATIONS_DIR } from '@mmctr/clickhouse';
import { adminClickHouse, testClickHouse, uniqueName } from '../support/clients';

// Loads the dashboard in headless Chromium (Debian's package) against the real ClickHouse, Kafka and
// Redis, and checks that every chart renders with data. The dashboard charts whole views, so it gets a
// database of its own: other suites' rows in the shared one are not its data. The screenshot is kept as a test artefact.
const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts');

describe('dashboard (headless Chromium)', () => {
  let app: NestFastifyApplication;
  let browser: Browser;
  let ch: ClickHouseService;
  const run = uniqueName('dash');
  const modelVersion = `${run}-qin`;
  // Stored data that is markup: it must show as text, never become elements or run.
  const hostileVersion = `<img src=x onerror="window.__xss=1">${run}`;
  const apiKey = `dash-key-${run}`;

  const database = run;
  const savedDatabase = process.env.CLICKHOUSE_DATABASE;

  beforeAll(async () => {
    const admin = adminClickHouse();
    try {
      await new MigrationRunner(admin, database, loadMigrations(MIGRATIONS_DIR)).migrate();
    } finally {
      await admin.close();
    }
    process.env.CLICKHOUSE_DATABASE = database;
    ch = testClickHouse();
    const base = Date.UTC(2026, 0, 5);
    const now = Math.floor(Date.now() / 1000);
    const events: object[] = [];
    const scored: { request_id: string; item_ids: string[]; ctrs: number[] }[] = [];
    for (let r = 0; r < 40; r++) {
      const request_id = `${run}-r${r}`;
      const ts = base + r * 3_600_000;
      const items = [0, 1, 2, 3].map((i) => `${run}-i${(r + i) % 7}`);
      items.forEach((item_id, position) => {
        const common = {
          user_id: `${run}-u${r % 5}`,
          item_id,
          request_id,
          position,
          device: 'mobile',
          placement: 'feed',
          country: 'DE',
          value: 0,
          schema_version: 1,
          ingested_at: now,
        };
        const shown = (request: string) => ({
          ...common,
          request_id: request,
          event_id: `${request}-imp${position}`,
          type: 'impression',
          ts_ms: ts,
          event_time: Math.floor(ts / 1000),
        });
        events.push(shown(request_id));
        // The hostile model's requests below are shown too: calibration counts impressions.
        if (r < 10) events.push(shown(`${request_id}-x`));
        if ((r + position) % 5 === 0) {
          events.push({
            ...common,
            event_id: `${request_id}-clk${position}`,
            type: 'click',
            ts_ms: ts + 2000,
            event_time: Math.floor(ts / 1000) + 2,
          });
        }
      });
      scored.push({
        request_id,
        item_ids: items,
        ctrs: items.map((_, p) => ((r + p) % 5 === 0 ? 0.3 : 0.05)),
      });
    }
    await ch.insert('events', events);
    // One score_log row per scored request (the i-th at the i-th hour), under `model_version`.
    const scoreLogRows = (rows: typeof scored, model_version: string, suffix = '') =>
      rows.map((s, r) => ({
        request_id: `${s.request_id}${suffix}`,
        ts_ms: base + r * 3_600_000,
        event_time: Math.floor((base + r * 3_600_000) / 1000),
        user_id: `${run}-u${r % 5}`,
        model_version,
        feature_spec_version: 'fs-1',
        shadow_model_version: '',
        device: 'mobile',
        placement: 'feed',
        country: 'DE',
        history_item_ids: [],
        item_ids: s.item_ids,
        positions: [0, 1, 2, 3],
        ctrs: s.ctrs,
        shadow_ctrs: [],
        degraded: 0,
        ingested_at: now,
      }));
    await ch.insert('score_log', scoreLogRows(scored, modelVersion));
    await ch.insert('score_log', scoreLogRows(scored.slice(0, 10), hostileVersion, '-x'));
    await ch.insert('models', [
      {
        version: hostileVersion,
        model_type: '<b>autoint</b>',
        status: 'candidate',
        artifact_uri: '/tmp/none',
        feature_spec_version: 'fs-1',
        metrics: '{}',
        train_from_ms: base,
        train_to_ms: base + 86_400_000,
        git_rev: 'test',
        created_at: now,
        updated_ms: Date.now(),
      },
      {
        version: modelVersion,
        model_type: 'qin',
        status: 'production',
        artifact_uri: '/tmp/none',
        feature_spec_version: 'fs-1',
        metrics: JSON.stringify({ test_auc: 0.8123 }),
        train_from_ms: base,
        train_to_ms: base + 86_400_000,
        git_rev: 'test',
        created_at: now,
        updated_ms: Date.now(),
      },
    ]);
    await ch.insert('ingest_batches', [
      {
        ts_ms: Date.now(),
        event_time: now,
        consumer: run,
        topic: 'mmctr.events.v1',
        partition: 0,
        first_offset: 0,
        last_offset: 99,
        rows: 100,
        invalid: 1,
        insert_ms: 12,
        max_event_lag_ms: 300,
      },
    ]);

    process.env.HTTP_PORT = '0';
    process.env.DASHBOARD_SAMPLE_INTERVAL_MS = '500';
    process.env.DASHBOARD_API_KEYS = apiKey;
    const { bootstrap } = await import('@mmctr/dashboard');
    app = await bootstrap();
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await ch?.close();
  });

  afterAll(async () => {
    delete process.env.DASHBOARD_API_KEYS;
    process.env.CLICKHOUSE_DATABASE = savedDatabase;
    const admin = adminClickHouse();
    await admin.command(`DROP DATABASE IF EXISTS ${database}`).catch(() => undefined);
    await admin.close();
  });

  it('renders every chart with data and lists the production model', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    // The key comes once in the address; the page keeps it for the tab and removes it from the URL.
    await page.goto(`${url}?key=${encodeURIComponent(apiKey)}`);
    await page.waitForSelector('body[data-loaded="true"]');
    expect(new URL(page.url()).search).toBe('');
    // Lag and queue depth come from periodic samples; wait until the page has drawn some.
    await page.waitForFunction(
      () =>
        ['chart-lag', 'chart-queue'].every(
          (id) => Number(document.getElementById(id)?.getAttribute('data-points')) > 0,
        ),
      undefined,
      { timeout: 60_000 },
    );
    const points = await page.evaluate(() =>
      Object.fromEntries(
        ['chart-ctr', 'chart-calibration', 'chart-lag', 'chart-queue', 'chart-ingest'].map((id) => [
          id,
          Number(document.getElementById(id)?.getAttribute('data-points')),
        ]),
      ),
    );
    for (const [id, n] of Object.entries(points)) expect([id, n > 0]).toEqual([id, true]);
    expect(await page.locator('#chart-ctr path.series').count()).toBeGreaterThan(0);
    expect(await page.locator('#chart-calibration circle.point').count()).toBeGreaterThan(0);
    expect(await page.locator('#legend-calibration').textContent()).toContain(modelVersion);
    const row = page.locator('#models tr.production', { hasText: modelVersion });
    await expect(row.textContent()).resolves.toContain('0.8123');
    expect(await page.locator('.error').allTextContents()).toEqual(['', '', '', '', '', '']);

    // The hostile model version is shown as text, in the legend and the table, and nothing ran.
    expect(await page.locator('#legend-calibration').textContent()).toContain(hostileVersion);
    const hostileRow = page.locator('#models tr.candidate', { hasText: hostileVersion });
    await expect(hostileRow.textContent()).resolves.toContain('<b>autoint</b>');
    expect(await page.locator('main img, main b').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(violations).toEqual([]);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  });

  it('sends a strict Content-Security-Policy and security headers', async () => {
    const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    for (const path of ['/', '/dashboard.js', '/dashboard.css']) {
      const res = await fetch(url + path);
      expect([path, res.status]).toEqual([path, 200]);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toMatch(/(^|; )default-src 'self'(;|$)/);
      expect(csp).toMatch(/(^|; )script-src 'self'(;|$)/);
      expect(csp).toMatch(/(^|; )object-src 'none'(;|$)/);
      expect(csp).toMatch(/(^|; )frame-ancestors 'none'(;|$)/);
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    // No inline script or style is left for the policy to block.
    const html = await (await fetch(url + '/')).text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>|<style|\son[a-z]+=|style="/i);
  });

  it('serves the data only with the API key when DASHBOARD_API_KEYS is set', async () => {
    const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    expect((await fetch(`${url}/api/dashboard`)).status).toBe(401);
    expect((await fetch(`${url}/api/dashboard`, { headers: { 'x-api-key': 'wrong' } })).status).toBe(401);
    const ok = await fetch(`${url}/api/dashboard`, { headers: { 'x-api-key': apiKey } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-security-policy')).toContain("default-src 'self'");
    // The page itself holds no data and stays open, so it can ask for the key.
    expect((await fetch(`${url}/`)).status).toBe(200);
  });
});
