/** What tests outside examples/ may use of the examples: the hello app's image, to compare bytes. */
export { badge as helloBadge } from './hello/app.ts';
