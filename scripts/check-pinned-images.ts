/**
 * `tsx scripts/check-pinned-images.ts`: every base image the project builds or runs on is pinned by
 * digest. Checks each Dockerfile's FROM (after substituting ARG defaults) and every `image:` of
 * .gitlab-ci.yml (string or `name:`); exits 1 naming each one that is not `name[:tag]@sha256:<64 hex>`.
 * The CI lint job runs it; test/integration/ship/pinned-images.test.ts runs the same check.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

export const PINNED = /^[\w./:-]+@sha256:[0-9a-f]{64}$/;

export interface ImageUse {
  file: string;
  where: string;
  image: string;
}

/** FROM images of a Dockerfile, with `${ARG}` replaced by the ARG's default (stage names are skipped). */
export function dockerfileImages(text: string, file = 'Dockerfile'): ImageUse[] {
  const args = new Map<string, string>();
  const stages = new Set<string>();
  const out: ImageUse[] = [];
  for (const raw of text.replace(/\\\r?\n/g, ' ').split(/\r?\n/)) {
    const line = raw.trim();
    const arg = /^ARG\s+(\w+)=(\S+)/i.exec(line);
    if (arg) args.set(arg[1] as string, (arg[2] as string).replace(/^"|"$/g, ''));
    const from = /^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (!from) continue;
    const image = (from[1] as string).replace(/\$\{?(\w+)\}?/g, (_m, n: string) => args.get(n) ?? `\${${n}}`);
    if (!stages.has(image) && image !== 'scratch') out.push({ file, where: line, image });
    if (from[2]) stages.add(from[2]);
  }
  return out;
}

/** Every `image:` in a GitLab CI file: top level, `default:`, and each job. */
export function gitlabImages(text: string, file = '.gitlab-ci.yml'): ImageUse[] {
  const doc = (parse(text) ?? {}) as Record<string, unknown>;
  const out: ImageUse[] = [];
  const add = (where: string, image: unknown) => {
    const name = typeof image === 'string' ? image : (image as { name?: unknown } | undefined)?.name;
    if (typeof name === 'string') out.push({ file, where, image: name });
  };
  add('image', doc.image);
  for (const [key, value] of Object.entries(doc))
    if (value && typeof value === 'object' && 'image' in value)
      add(`${key}.image`, (value as { image: unknown }).image);
  return out;
}

export function imageUses(root: string): ImageUse[] {
  const uses: ImageUse[] = [];
  for (const f of readdirSync(root))
    if (/^Dockerfile(\..+)?$|\.Dockerfile$/.test(f))
      uses.push(...dockerfileImages(readFileSync(path.join(root, f), 'utf8'), f));
  const ci = path.join(root, '.gitlab-ci.yml');
  if (existsSync(ci)) uses.push(...gitlabImages(readFileSync(ci, 'utf8')));
  return uses;
}

export function unpinned(uses: readonly ImageUse[]): ImageUse[] {
  return uses.filter((u) => !PINNED.test(u.image));
}

if (require.main === module) {
  const uses = imageUses(path.resolve(__dirname, '..'));
  const bad = unpinned(uses);
  for (const u of bad) process.stderr.write(`${u.file}: ${u.where}: ${u.image} is not pinned by digest\n`);
  process.stdout.write(`${uses.length - bad.length} of ${uses.length} images pinned by digest\n`);
  process.exitCode = bad.length > 0 ? 1 : 0;
}
