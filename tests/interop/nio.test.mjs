// Interop: runs nio_test.py (matrix-nio from PyPI, in the venv that
// scripts/setup.sh makes) against a fresh weft.

import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ROOT, startServer } from '../e2e/harness.mjs';

test('matrix-nio: register, login, create, invite, join, send and sync', async () => {
  const python = process.env.WEFT_TEST_PYTHON ?? join(ROOT, '.tools/venv/bin/python');
  const server = await startServer();
  try {
    const run = spawnSync(python, [join(ROOT, 'tests/interop/nio_test.py'), server.base], { encoding: 'utf8', timeout: 120_000 });
    if (run.status !== 0) console.error(run.stdout, run.stderr, server.log());
    assert.equal(run.status, 0, `nio test failed: ${run.stderr || run.error}`);
    assert.match(run.stdout, /matrix-nio interop: ok/);
  } finally {
    await server.stop();
  }
});
