/**
 * `tserver-ha bench` as a user runs it (the compiled CLI in a child process, on the real simulator): a
 * tiny run produces a valid JSON report with every column measured and nothing lost, duplicated, unsettled
 * or unexplained; `compare` reads two reports; Ctrl-C stops it cleanly and still writes what was measured.
 * Latencies are checked for presence only, never against goals (that is the bench's job). Every wait is on
 * the child's output or exit, with a bound.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchReport } from '../../lib/cli/bench/types.js';
import { CLI, dir, runCli } from './cli.js';

let report: BenchReport;
let reportPath: string;
let tmp: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'tsha-bench-test-'));
  reportPath = join(tmp, 'a.json');
  const r = await runCli(['bench', '--runs', '2', '--modes', 'hot,warm', '--transports', 'node', '--rate', '2000', '--after', '100', '--json', '--out', reportPath, '--html', join(tmp, 'report.html')], 180_000);
  expect(r.code, r.stderr).toBe(0);
  report = JSON.parse(r.stdout) as BenchReport;
}, 200_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('tserver-ha bench (simulator)', { timeout: 200_000 }, () => {
  it('writes a valid JSON report: every cell measured, nothing lost, duplicated, unsettled or unexplained', () => {
    expect(report.tool).toBe('tserver-ha bench');
    expect(report.target).toBe('simulator');
    expect(report.interrupted).toBe(false);
    expect(JSON.parse(readFileSync(reportPath, 'utf8'))).toEqual(report);
    expect(report.cells.map((c) => c.key)).toEqual(['hot/node/kill', 'warm/node/kill']);
    for (const c of report.cells) {
      expect(c.runs).toHaveLength(2);
      expect(c.runs.map((r) => r.error)).toEqual([null, null]);
      expect(c.totals.events.lost).toBe(0);
      expect(c.totals.events.duplicated).toBe(0);
      expect(c.totals.events.unexpected).toBe(0);
      expect(c.totals.requests.sent).toBeGreaterThan(0);
      expect(c.totals.requests.unsettled).toBe(0);
      expect(c.totals.requests.unexplained).toBe(0);
      // Route outcomes judged against the switch's oracle: none wrong, no call routed twice.
      const q = c.totals.requests;
      expect(q.judged).toBe(true);
      expect(q.wrongOutcome).toBe(0);
      expect(q.doubleRouted).toBe(0);
      expect(Object.keys(q.resolved).sort()).toEqual(['answered', 'answered-on-repeat', 'done-earlier-1202', 'done-earlier-stream']);
      expect(Object.values(q.resolved).reduce((x, y) => x + y, 0)).toBe(q.ok);
      // Every failed request is listed with its explanation.
      expect(c.runs.reduce((n, r) => n + r.requests.failures.length, 0) + c.failuresDropped).toBe(q.sent - q.ok - q.unsettled);
      for (const m of ['detectMs', 'firstEventMs', 'promotionMs', 'readyMs', 'recoverMs', 'overheadMs'] as const) {
        const s = c.summary[m];
        expect(s, `${c.key} ${m}`).toBeTruthy();
        expect(s!.count).toBe(2);
        expect(s!.p99).toBeGreaterThanOrEqual(s!.p50);
        expect(s!.cdf.length).toBeGreaterThan(5);
        expect(typeof s!.hdr).toBe('string');
      }
      for (const r of c.runs) expect(r.timeline.some((t) => t.what === 'fault')).toBe(true);
    }
    // Hot standby loses nothing; warm standby reports its outage as a gap.
    expect(report.cells[0]!.totals.events.lostInGap).toBe(0);
    expect(report.cells[1]!.totals.events.gapSeqs).toBeGreaterThan(0);
  });

  // Debian's chromium (.ci/run installs it); elsewhere the test is skipped unless CI is set.
  const CHROMIUM = '/usr/bin/chromium';
  it.skipIf(!existsSync(CHROMIUM) && process.env.CI !== 'true')('the HTML report opens offline in Chromium without console errors, every chart drawn with data', async () => {
    const { chromium } = await import('playwright-core');
    const html = readFileSync(join(tmp, 'report.html'), 'utf8');
    // The verdict first, then route outcomes, then latencies.
    expect(html.indexOf('id="verdict"')).toBeGreaterThan(0);
    expect(html.indexOf('id="verdict"')).toBeLessThan(html.indexOf('id="routes"'));
    expect(html.indexOf('id="routes"')).toBeLessThan(html.indexOf('id="latency"'));
    // Self-contained: no external script, style or font.
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|@import|url\(http/);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      // Offline: any request leaving the file is a failure.
      await page.route(/^(?!file:)/, (route) => {
        errors.push(`network request: ${route.request().url()}`);
        return route.abort();
      });
      await page.goto(pathToFileURL(join(tmp, 'report.html')).href);
      // (Strings: this project's TypeScript has no DOM types.)
      await page.waitForFunction('Array.isArray(window.__benchCharts)', null, { timeout: 30_000 });
      const charts = (await page.evaluate('window.__benchCharts')) as { id: string; title: string; points: number }[];
      // Per metric one CDF chart (5), per cell a route-outcomes-per-failover and a timeline chart (2 × 2).
      expect(charts.length).toBe(5 + 2 * report.cells.length);
      for (const c of charts) expect(c.points, `${c.id}: ${c.title}`).toBeGreaterThan(0);
      // Each chart's canvas has pixels drawn on it.
      const drawn = (await page.evaluate(`[...document.querySelectorAll('.uplot canvas')].map((c) => {
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
        return { w: c.width, h: c.height, painted: n };
      })`)) as { w: number; h: number; painted: number }[];
      expect(drawn).toHaveLength(charts.length);
      for (const d of drawn) {
        expect(d.w).toBeGreaterThan(0);
        expect(d.painted).toBeGreaterThan(100);
      }
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('compare shows two reports side by side (text and --json)', async () => {
    const b = structuredClone(report);
    b.config = { ...b.config, promotionDelayMs: 999 };
    const bPath = join(tmp, 'b.json');
    writeFileSync(bPath, JSON.stringify(b));
    const text = await runCli(['bench', 'compare', reportPath, bPath], 30_000);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('hot/node/kill');
    expect(text.stdout).toContain('client overhead');
    expect(text.stdout).toMatch(/config changed: promotionDelayMs 300 → 999/);
    // Both machines' load, and the noise test's word (2 runs per cell: too few to tell).
    expect(text.stdout).toMatch(/A: .*load average .* at start/);
    expect(text.stdout).toMatch(/B: .*load average .* at start/);
    expect(text.stdout).toMatch(/cannot tell change from noise|no significant change/);
    const json = await runCli(['bench', 'compare', reportPath, bPath, '--json'], 30_000);
    const cmp = JSON.parse(json.stdout) as { cells: { key: string; a: unknown; b: unknown }[] };
    expect(cmp.cells.map((c) => c.key)).toEqual(['hot/node/kill', 'warm/node/kill']);
    const bad = await runCli(['bench', 'compare', reportPath], 30_000);
    expect(bad.code).toBe(2);
  });

  it('rejects bad options with exit code 2, and lab options need a lab pair', async () => {
    expect((await runCli(['bench', '--faults', 'explode'], 30_000)).code).toBe(2);
    expect((await runCli(['bench', '--dns', '7000'], 30_000)).code).toBe(2);
    const r = await runCli(['bench', '--primary', '127.0.0.1:1', '--backup', '127.0.0.1:2'], 30_000);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--fault-cmd/);
  });

  it('Ctrl-C stops cleanly and still writes what was measured', async () => {
    const out = join(tmp, 'partial.json');
    const child: ChildProcess = spawn(process.execPath, [CLI, 'bench', '--runs', '50', '--modes', 'hot', '--transports', 'node', '--rate', '2000', '--after', '100', '--json', '--verbose', '--out', out], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      // After the first completed run, interrupt (SIGINT, as Ctrl-C sends to the process).
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no run completed within 120 s: ${stderr}`)), 120_000);
        child.stderr!.on('data', (d: Buffer) => {
          stderr += d.toString();
          if (/run 1: /.test(stderr)) {
            clearTimeout(t);
            resolve();
          }
        });
      });
      child.kill('SIGINT');
      const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 60_000))]);
      expect(code).toBe(130);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    const partial = JSON.parse(stdout) as BenchReport;
    expect(partial.interrupted).toBe(true);
    expect(partial.cells).toHaveLength(1);
    expect(partial.cells[0]!.runs.length).toBeGreaterThanOrEqual(1);
    expect(partial.cells[0]!.runs.length).toBeLessThan(50);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(partial);
    expect(stderr).toMatch(/interrupted/);
  });
});
