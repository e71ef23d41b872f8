/** Call the endpoint from the page (`POST /run/…`) and see the result, files as previews. */
import { useState } from 'preact/hooks';
import { ApiError, api, runPath } from '../api.ts';
import { duration } from '../format.ts';
import { ResultView } from '../result-view.tsx';

export function Playground(props: { endpoint: string }) {
  const [path, setPath] = useState('');
  const [input, setInput] = useState('{\n  "name": "Ada"\n}');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<
    { ok: true; value: unknown; ms: number } | { ok: false; message: string } | undefined
  >();

  const run = async (e: Event) => {
    e.preventDefault();
    let body: unknown;
    try {
      body = input.trim() ? JSON.parse(input) : {};
    } catch (err) {
      setOutcome({ ok: false, message: `The input is not valid JSON: ${(err as Error).message}` });
      return;
    }
    setBusy(true);
    setOutcome(undefined);
    const started = performance.now();
    try {
      const value = await api.post<unknown>(runPath(props.endpoint, path), body);
      setOutcome({ ok: true, value, ms: performance.now() - started });
    } catch (err) {
      setOutcome({ ok: false, message: err instanceof ApiError ? err.message : String(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="play-h">
      <h2 id="play-h">Playground</h2>
      <form class="playground" onSubmit={run}>
        <label for="play-path">Path</label>
        <div class="path-row">
          <span class="mono muted">/run/{props.endpoint}/</span>
          <input id="play-path" value={path} onInput={(e) => setPath((e.target as HTMLInputElement).value)} />
        </div>
        <label for="play-input">Input (JSON)</label>
        <textarea
          id="play-input"
          rows={8}
          spellcheck={false}
          value={input}
          onInput={(e) => setInput((e.target as HTMLTextAreaElement).value)}
        />
        <button type="submit" disabled={busy}>
          {busy ? 'Running…' : 'Run'}
        </button>
      </form>
      {outcome?.ok === false && (
        <p class="error" role="alert">
          {outcome.message}
        </p>
      )}
      {outcome?.ok && (
        <>
          <h3>
            Result <span class="muted">in {duration(outcome.ms)}</span>
          </h3>
          <ResultView value={outcome.value} label="Playground result" />
        </>
      )}
    </section>
  );
}
