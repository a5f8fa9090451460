// The package as users get it: `npm pack`, installed from the tarball into an empty project and
// run on plain Node 20 (no TypeScript loader): the CLI, validate, and `immune/sdk` from a .mjs file
// and from TypeScript through its declarations. Dependencies come from the npm cache or registry.
// Install scripts are skipped: better-sqlite3 has no reachable prebuilt binary here and compiling
// sqlite from source takes over ten minutes on two cores; nothing run below opens a database.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT } from '../helpers/immune-cli.js';

describe('the npm package: pack, install into an empty project, run on plain Node', function () {
  this.timeout(900_000);
  let dir: string;
  let project: string;
  let files: string[];
  // Plain Node: no loader from the environment, no IMMUNE_* settings.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('IMMUNE_') && k !== 'NODE_OPTIONS' && !k.startsWith('npm_')),
  );
  const run = (cmd: string, args: string[], timeout = 60_000) =>
    execa(cmd, args, { cwd: project, env, extendEnv: false, reject: false, timeout });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'immune-pack-'));
    const packed = await execa('npm', ['pack', '--json', '--pack-destination', dir], {
      cwd: ROOT,
      env,
      extendEnv: false,
      timeout: 420_000,
    });
    const info = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    files = info[0]!.files.map((f) => f.path);
    project = join(dir, 'project');
    await mkdir(project);
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({ name: 'uses-immune', version: '1.0.0', type: 'module', private: true }),
    );
    await execa('npm', ['install', join(dir, info[0]!.filename), '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd: project,
      env,
      extendEnv: false,
      timeout: 420_000,
    });
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the tarball holds the compiled program, its static files, pipelines and docs, and no tests, screenshots or benchmarks', () => {
    for (const f of [
      'bin/immune.js',
      'dist/cli/main.js',
      'dist/sdk/index.js',
      'dist/sdk/index.d.ts',
      'dist/dashboard/index.html',
      'dist/demo/shop/server.js',
      'pipelines/local.yaml',
      'LICENSE',
      'CHANGELOG.md',
      'README.md',
      'package.json',
    ]) {
      assert.ok(files.includes(f), `${f} is in the tarball`);
    }
    for (const f of files) {
      assert.doesNotMatch(
        f,
        /^(src|test|scripts|bench-results)\/|^docs\/screenshots\/|\.ts$(?<!\.d\.ts)|tsconfig/,
        `${f} should not be in the tarball`,
      );
    }
  });

  it('installs without TypeScript tools or test-only packages', () => {
    for (const p of ['tsx', 'typescript', 'esbuild', 'playwright-core', '@unleash/client-specification', 'mocha', 'eslint']) {
      assert.ok(!existsSync(join(project, 'node_modules', p)), `${p} should not be installed`);
    }
  });

  it('npx immune --version and --help run the compiled CLI', async () => {
    const v = await run('npx', ['--no-install', 'immune', '--version']);
    assert.equal(v.exitCode, 0, v.stderr);
    assert.equal(v.stdout.trim(), JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')).version);
    const h = await run('npx', ['--no-install', 'immune', '--help']);
    assert.equal(h.exitCode, 0, h.stderr);
    for (const c of ['init', 'doctor', 'validate', 'serve', 'demo']) assert.match(h.stdout, new RegExp(`^\\s+${c}\\b`, 'm'));
  });

  it('immune validate checks a pipeline, naming file:line:col for a bad one', async () => {
    const good = await run('npx', ['--no-install', 'immune', 'validate', 'node_modules/immune/pipelines/local.yaml']);
    assert.equal(good.exitCode, 0, good.stdout + good.stderr);
    await writeFile(
      join(project, 'bad.yaml'),
      (await readFile(join(ROOT, 'pipelines/local.yaml'), 'utf8')).replace(/on_inconclusive: \w+/, 'on_inconclusive: sometimes'),
    );
    const bad = await run('npx', ['--no-install', 'immune', 'validate', 'bad.yaml']);
    assert.equal(bad.exitCode, 1);
    assert.match(bad.stdout, /^bad\.yaml:\d+:\d+ rollout\.on_inconclusive: /m);
  });

  it("import { createExperimentsClient } from 'immune/sdk' works from a .mjs file, and TypeScript finds its types", async () => {
    await writeFile(
      join(project, 'app.mjs'),
      "import { createExperimentsClient } from 'immune/sdk';\nconsole.log(typeof createExperimentsClient);\n",
    );
    const m = await run('node', ['app.mjs']);
    assert.equal(m.exitCode, 0, m.stderr);
    assert.equal(m.stdout.trim(), 'function');
    await writeFile(
      join(project, 'app.ts'),
      "import { createExperimentsClient, type ExperimentsClientOptions } from 'immune/sdk';\nconst o: ExperimentsClientOptions = { url: 'http://127.0.0.1:7070', clientToken: 't', appName: 'app' };\nexport const make = () => createExperimentsClient(o);\n",
    );
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          typeRoots: [join(ROOT, 'node_modules/@types')],
          types: ['node'],
        },
        files: ['app.ts'],
      }),
    );
    const tsc = await run('node', [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', '.']);
    assert.equal(tsc.exitCode, 0, tsc.stdout + tsc.stderr);
    const deep = await run('node', ['--input-type=module', '-e', "await import('immune/dist/runtime.js')"]);
    assert.notEqual(deep.exitCode, 0, 'modules outside exports are not importable');
    assert.match(deep.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });
});
