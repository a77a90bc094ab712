import { ApproversConfig } from '../approval/approval-port';
import { HelmgateError } from '../errors';

/** Parses HELMGATE_APPROVERS; the error names the bad field, never more. */
export function parseApprovers(raw: string | undefined): ApproversConfig {
  let json: unknown;
  try {
    json = JSON.parse(raw ?? '{}');
  } catch {
    throw new HelmgateError('invalid_config', 'HELMGATE_APPROVERS is not JSON');
  }
  const parsed = ApproversConfig.safeParse(json);
  if (!parsed.success)
    throw new HelmgateError(
      'invalid_config',
      `HELMGATE_APPROVERS: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}
