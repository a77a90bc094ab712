import path from 'node:path';
import { dockerfileImages, gitlabImages, imageUses, unpinned } from '../../../scripts/check-pinned-images';

const root = path.resolve(__dirname, '../../..');

describe('base images are pinned by digest', () => {
  it('every FROM of the Dockerfile and every image of .gitlab-ci.yml names a sha256 digest', () => {
    const uses = imageUses(root);
    expect(uses.map((u) => u.file).sort()).toEqual(
      // the pipeline's one image (node, which also runs buildah) and the Dockerfile's two stages
      ['.gitlab-ci.yml', 'Dockerfile', 'Dockerfile'].sort(),
    );
    expect(unpinned(uses)).toEqual([]);
  });

  it('the check catches a tag, an ARG default without a digest, and a CI image object', () => {
    const docker = dockerfileImages(
      [
        'ARG BASE=node:22-bookworm-slim',
        `FROM \${BASE} AS build`,
        'FROM build AS test',
        'FROM --platform=linux/amd64 alpine:3.20',
        'FROM scratch',
        `FROM debian@sha256:${'a'.repeat(64)}`,
      ].join('\n'),
    );
    expect(unpinned(docker).map((u) => u.image)).toEqual(['node:22-bookworm-slim', 'alpine:3.20']);
    const ci = gitlabImages(
      [
        'image: node:22',
        'default:',
        `  image: node:22@sha256:${'b'.repeat(64)}`,
        'job:',
        '  image:',
        '    name: gcr.io/kaniko-project/executor:debug',
        '  script: [true]',
      ].join('\n'),
    );
    expect(unpinned(ci).map((u) => `${u.where} ${u.image}`)).toEqual([
      'image node:22',
      'job.image gcr.io/kaniko-project/executor:debug',
    ]);
    // a digest that is not 64 hex is no pin
    expect(unpinned(dockerfileImages('FROM node:22@sha256:abc'))).toHaveLength(1);
  });
});
