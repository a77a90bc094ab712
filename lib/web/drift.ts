import type { EnvironmentDrift } from '../deploy/drift';
import { escapeHtml, timeTag } from './html';

/**
 * The drift the scheduled check last found in an environment (issue 13, item 4), for the overview card
 * and the page of the deployment that runs there: a `drifted` badge per release and, per changed object,
 * the fields as deployed and as live. Values are what the check stored: masked before they were stored
 * (Secret data by key only, secrets hidden); everything is escaped here.
 */

/** The environment's `drifted` badge, for a card header. */
export function driftBadge(drift: EnvironmentDrift | undefined): string {
  return drift && Object.keys(drift.releases).length > 0
    ? ' <span class="badge s-drifted">drifted</span>'
    : '';
}

export function driftSection(drift: EnvironmentDrift | undefined, now: Date): string {
  if (!drift) return '';
  const names = Object.keys(drift.releases).sort();
  const errors = Object.entries(drift.errors ?? {});
  if (names.length === 0 && errors.length === 0) return '';
  const releases = names.map((name) => {
    const r = drift.releases[name];
    if (!r) return '';
    const d = r.drift;
    const objects = d.objects.map((o) => {
      if (o.missing) return `<p><code>${escapeHtml(o.object)}</code>: deleted</p>`;
      // one row group per field: its path across the table, then the two values side by side, so a
      // narrow card gives each value half its width instead of a third
      const rows = o.fields
        .map(
          (f) =>
            `<tbody><tr><th scope="rowgroup" colspan="2" class="path"><code>${escapeHtml(f.path)}</code></th></tr><tr><td><code>${escapeHtml(f.deployed)}</code></td><td><code>${escapeHtml(f.live ?? '(missing)')}</code></td></tr></tbody>`,
        )
        .join('');
      const more = o.omittedFields ? `<p class="muted">${o.omittedFields} more field(s) not shown</p>` : '';
      return `<table><caption><code>${escapeHtml(o.object)}</code></caption><thead><tr><th scope="col">deployed</th><th scope="col">live</th></tr></thead>${rows}</table>${more}`;
    });
    const more = d.omittedObjects ? `<p class="muted">${d.omittedObjects} more object(s) not shown</p>` : '';
    return `<li data-release="${escapeHtml(name)}"><p><strong>${escapeHtml(name)}</strong> <span class="badge s-drifted">drifted</span> <span class="muted">since ${timeTag(r.since, now)}</span></p>${d.helm ? `<p>${escapeHtml(d.helm)}</p>` : ''}${objects.join('')}${more}</li>`;
  });
  const failed = errors.length
    ? `<p class="muted">not checked this time: ${errors.map(([n, why]) => `${escapeHtml(n)} (${escapeHtml(why)})`).join('; ')}</p>`
    : '';
  const correction = drift.correction
    ? `<p>Correction: <a href="/deployments/${encodeURIComponent(drift.correction.deploymentId)}">${escapeHtml(drift.correction.deploymentId)}</a></p>`
    : '';
  return `<section class="drift"><h3>Drift</h3><div class="wait"><p class="muted">What runs differs from what helmgate deployed (checked ${timeTag(drift.checkedAt, now)}).</p><ul class="drift-releases">${releases.join('')}</ul>${failed}${correction}</div></section>`;
}
