/** Cost as runner-seconds: by day and machine type, and by app environment, over two weeks. */
import { api } from '../api.ts';
import type { CostView } from '../api-types.ts';
import { Bars } from '../charts.tsx';
import { useLoad } from '../data.ts';

const hours = (s: number) => (s >= 3600 ? `${(s / 3600).toFixed(1)} h` : `${Math.round(s)} s`);

function sum<K extends string>(
  rows: CostView['days'],
  key: (r: CostView['days'][number]) => K,
): Map<K, number> {
  const out = new Map<K, number>();
  for (const r of rows) out.set(key(r), (out.get(key(r)) ?? 0) + r.runner_seconds);
  return out;
}

export function CostPage() {
  const data = useLoad(() => api.get<CostView>('/v1/cost?days=14'), []);
  const rows = data.data?.days ?? [];
  const byDay = [...sum(rows, (r) => r.day)].sort(([a], [b]) => a.localeCompare(b));
  const byType = [...sum(rows, (r) => `${r.day}|${r.machine_type}`)].sort(([a], [b]) => b.localeCompare(a));
  const byEnv = [...sum(rows, (r) => `${r.app} ${r.environment}`)].sort((a, b) => b[1] - a[1]);
  return (
    <main>
      <h1>Cost</h1>
      <p class="muted">
        Runner-seconds: how long runners were up, from start to end, whatever they did. Multiply by your
        machine's price per second.
      </p>
      {data.error && (
        <p class="error" role="alert">
          {data.error.message}
        </p>
      )}
      {data.data && rows.length === 0 && <p>No runner has run in the last 14 days.</p>}
      {rows.length > 0 && (
        <>
          <section aria-labelledby="cost-day-h">
            <h2 id="cost-day-h">By day</h2>
            <Bars
              label="Runner-seconds by day"
              rows={byDay.map(([day, s]) => ({ key: day, value: s, title: hours(s) }))}
            />
          </section>
          <section aria-labelledby="cost-type-h">
            <h2 id="cost-type-h">By day and machine type</h2>
            <table>
              <thead>
                <tr>
                  <th scope="col">Day</th>
                  <th scope="col">Machine type</th>
                  <th scope="col">Runner-seconds</th>
                </tr>
              </thead>
              <tbody>
                {byType.map(([k, s]) => {
                  const [day, type] = k.split('|');
                  return (
                    <tr key={k}>
                      <td>{day}</td>
                      <td>{type}</td>
                      <td>{Math.round(s)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </section>
          <section aria-labelledby="cost-env-h">
            <h2 id="cost-env-h">By environment</h2>
            <Bars
              label="Runner-seconds by environment"
              rows={byEnv.map(([k, s]) => ({ key: k, value: s, title: hours(s) }))}
            />
          </section>
        </>
      )}
    </main>
  );
}
