/** The Action's public face for tests that drive it in process; the Action's own entry is src/index.ts. */
export { run } from './src/run.ts';
