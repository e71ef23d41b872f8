/** The parser ships no types; the tests read these fields of what it returns. */
declare module 'parse-prometheus-text-format' {
  export default function parsePrometheusTextFormat(text: string): unknown[];
}
