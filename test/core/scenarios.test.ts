/**
 * The decision core as a reducer: readable scenarios (test/core/scenarios/*.json: inputs → the effects and
 * state expected after each) fed straight into `step` and `admit`, as MongoDB's SDAM spec tests feed their
 * JSON into the topology's update function. No shell, no sockets, no clock: what a scenario says is all
 * that happens. `TSHA_RECORD=1` fills in missing expectations (then read them: they are the spec).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { admit, DELIVER } from '../../lib/pair/core/admit.js';
import { createCore, step } from '../../lib/pair/core/step.js';
import type { CoreConfig, CoreState, Effect } from '../../lib/pair/core/types.js';
import { renderEffect, toInput, type StepSpec } from './render.js';

interface Scenario {
  description: string;
  config?: Partial<CoreConfig>;
  steps: StepSpec[];
}

const dir = join(import.meta.dirname, 'scenarios');
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
const record = process.env.TSHA_RECORD === '1';

function get(s: CoreState, path: string): unknown {
  let v: unknown = s;
  for (const k of path.split('.')) v = (v as Record<string, unknown>)?.[k];
  return v;
}

describe('decision core scenarios', () => {
  it('has at least 25 scenarios', () => expect(files.length).toBeGreaterThanOrEqual(25));

  it.each(files)('%s', (file) => {
    const path = join(dir, file);
    const sc = JSON.parse(readFileSync(path, 'utf8')) as Scenario;
    const s = createCore({ name: 'P', mode: 'hot', switchOnLinkDown: true, splitBrainGraceMs: 500, warmBackupWaitMs: 1000, maxHoles: 64, ...sc.config });
    let changed = false;
    sc.steps.forEach((st, n) => {
      const where = `${file} step ${n + 1} (${JSON.stringify(st.input)})`;
      let got: string[];
      if (st.input.kind === 'admit') {
        const fx: Effect[] = [];
        const v = s.eps[st.input.ep as 'primary' | 'backup'];
        const timeUs = (st.input.timeUs ?? -1) as number;
        const verdict = admit(s, v, { seq: st.input.seq as number }, () => timeUs, fx) === DELIVER ? 'deliver' : 'duplicate';
        got = fx.map(renderEffect);
        if (st.verdict === undefined && record) {
          st.verdict = verdict;
          changed = true;
        }
        expect(verdict, where).toBe(st.verdict);
      } else {
        got = step(s, toInput(st)).map(renderEffect);
      }
      if (st.effects === undefined && record) {
        st.effects = got;
        changed = true;
      }
      expect(got, where).toEqual(st.effects ?? []);
      for (const [p, want] of Object.entries(st.state ?? {})) expect(get(s, p), `${where}: ${p}`).toEqual(want);
    });
    if (changed) writeFileSync(path, `${JSON.stringify(sc, null, 2)}\n`);
  });
});
