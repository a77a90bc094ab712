import { createProcessRunner } from '../../lib/exec/command-runner';
import { gitOver } from '../../lib/exec/git';

/** git through the real command runner, for tests and benches (the composition root builds its own). */
export const testGit = gitOver(createProcessRunner(), process.env);
