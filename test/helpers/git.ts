// Real git repositories in temp dirs: a bare "origin" and a developer clone that commits and pushes.
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';

export interface TestOrigin {
  root: string;
  /** The bare repository: what a pipeline's repo.url points at. */
  url: string;
  dev: SimpleGit;
  devDir: string;
  /** Write files, commit as the given author and push to main; returns the sha. */
  commit(message: string, files: Record<string, string>, author?: string): Promise<string>;
  cleanup(): Promise<void>;
}

export async function createOrigin(initial: Record<string, string> = { 'README.md': 'hello\n' }): Promise<TestOrigin> {
  const root = await mkdtemp(join(tmpdir(), 'immune-git-'));
  const url = join(root, 'origin.git');
  await simpleGit().raw(['init', '--bare', '--initial-branch=main', url]);
  const devDir = join(root, 'dev');
  await mkdir(devDir);
  const dev = simpleGit(devDir);
  await dev.init(['--initial-branch=main']);
  await dev.addConfig('user.name', 'Dev One').addConfig('user.email', 'dev1@example.test');
  await dev.addRemote('origin', url);
  const commit = async (message: string, files: Record<string, string>, author = 'Dev One <dev1@example.test>') => {
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(devDir, path)), { recursive: true });
      await writeFile(join(devDir, path), content);
    }
    await dev.add(Object.keys(files));
    await dev.commit(message, undefined, { '--author': author });
    await dev.pull('origin', 'main', ['--rebase']).catch(() => undefined);
    await dev.push('origin', 'main');
    return (await dev.revparse(['HEAD'])).trim();
  };
  await commit('initial', initial);
  return { root, url, dev, devDir, commit, cleanup: () => rm(root, { recursive: true, force: true }) };
}
