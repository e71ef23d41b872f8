/**
 * The install's public face for tests outside infra/: build the CDK app from settings, and the
 * settings parser with its defaults.
 */
export { buildGantryApp, stackNames } from './src/gantry-app.ts';
export { type InfraSettings, parseSettings, SETTINGS } from './src/settings.ts';
