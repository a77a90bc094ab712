import { repositoryChartDigests } from '../../../lib/helm/chart-digest';

test('an index that declares more than 64 MiB is refused before its body is read', async () => {
  let bodyRead = false;
  const response = {
    ok: true,
    status: 200,
    headers: new Headers({ 'content-length': String(65 * 1024 * 1024) }),
    text: async () => {
      bodyRead = true;
      return 'entries: {}';
    },
  } as unknown as Response;
  const charts = repositoryChartDigests({ fetch: async () => response });
  await expect(
    charts.digest({ url: 'https://charts.example/', name: 'hub', version: '1.0.0' }),
  ).rejects.toThrow('https://charts.example/index.yaml is too large');
  expect(bodyRead).toBe(false);
});
