import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Octokit } from '@octokit/core';
import { x as extractTar } from 'tar';
import { HelmgateError } from '../errors';
import { GithubContentsSource, splitRepo } from './github-contents';
import type { RepoSource } from './repo-source';

export interface GithubSourceOptions {
  /** largest tarball accepted, bytes */
  maxTarballBytes?: number;
  fetch?: typeof fetch;
}

/**
 * RepoSource over the GitHub REST API: contents for one file (GithubContentsSource), the tarball for
 * the whole tree. Only the runner needs the tarball; the webhook uses GithubContentsSource, so its
 * bundle carries no tar.
 */
export class GithubRepoSource extends GithubContentsSource implements RepoSource {
  constructor(
    octokit: Pick<Octokit, 'request'>,
    private readonly opts: GithubSourceOptions = {},
  ) {
    super(octokit);
  }

  async extractTree(repository: string, sha: string, dest: string): Promise<void> {
    const [owner, repo] = splitRepo(repository);
    const max = this.opts.maxTarballBytes ?? 256 * 1024 * 1024;
    let data: ArrayBuffer;
    try {
      const res = await this.octokit.request('GET /repos/{owner}/{repo}/tarball/{ref}', {
        owner,
        repo,
        ref: sha,
      });
      data = res.data as ArrayBuffer;
    } catch (e) {
      throw new HelmgateError('source_unavailable', `GitHub tarball ${repository}@${sha} failed`, {
        cause: e,
      });
    }
    if (data.byteLength > max) throw new HelmgateError('source_unavailable', `tarball exceeds ${max} bytes`);
    await extractSafely(Readable.from(Buffer.from(data)), dest, { stripTopDir: true, maxBytes: max });
  }
}

/**
 * Extracts a tar stream into `dest`, refusing absolute paths, `..`, links (symbolic or hard) that
 * leave the tree, device files, and archives that unpack beyond `maxBytes`.
 */
export async function extractSafely(
  input: NodeJS.ReadableStream,
  dest: string,
  opts: { stripTopDir?: boolean; maxBytes: number },
): Promise<void> {
  await mkdir(dest, { recursive: true });
  const root = path.resolve(dest);
  let total = 0;
  let violation: string | undefined;
  const inside = (p: string) => {
    const resolved = path.resolve(root, p);
    return resolved === root || resolved.startsWith(root + path.sep);
  };
  await pipeline(
    input,
    extractTar({
      cwd: root,
      strict: true,
      strip: opts.stripTopDir ? 1 : 0,
      preservePaths: false,
      filter: (p, entry) => {
        const e = entry as { type?: string; linkpath?: string; size?: number };
        const rel = opts.stripTopDir ? p.split('/').slice(1).join('/') : p;
        if (path.isAbsolute(p) || p.split(/[\\/]/).includes('..')) violation ??= `unsafe path ${p}`;
        else if (
          e.type === 'SymbolicLink' &&
          e.linkpath &&
          !inside(path.resolve(root, path.dirname(rel), e.linkpath))
        )
          violation ??= `link ${p} points outside the tree`;
        else if (e.type === 'Link' && e.linkpath && !inside(e.linkpath))
          violation ??= `hard link ${p} points outside`;
        else if (
          e.type &&
          !['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link'].includes(e.type)
        )
          return false; // pax headers, devices, fifos: never written
        total += e.size ?? 0;
        if (total > opts.maxBytes) violation ??= `archive unpacks beyond ${opts.maxBytes} bytes`;
        return violation === undefined;
      },
    }),
  );
  if (violation) {
    await rm(root, { recursive: true, force: true });
    throw new HelmgateError('source_unavailable', `refused repository archive: ${violation}`);
  }
  // defence in depth: no symlink in the tree may resolve outside it
  await assertNoEscapingLinks(root, root);
}

async function assertNoEscapingLinks(root: string, dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const p = path.join(dir, name);
    const st = await lstat(p);
    if (st.isSymbolicLink()) {
      const { readlink } = await import('node:fs/promises');
      const target = path.resolve(path.dirname(p), await readlink(p));
      if (target !== root && !target.startsWith(root + path.sep))
        throw new HelmgateError(
          'source_unavailable',
          `refused repository archive: link ${path.relative(root, p)} escapes`,
        );
    } else if (st.isDirectory()) await assertNoEscapingLinks(root, p);
  }
}
