/**
 * The CDK app: the registry stack and the main stack from one set of settings, with cdk-nag's
 * AWS Solutions checks applied to both (a finding is a synth error unless suppressed, with its
 * reason, where the resource is made).
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { GantryStack } from './gantry-stack.ts';
import { RegistryStack } from './registry-stack.ts';
import type { InfraSettings } from './settings.ts';

export interface GantryApp {
  app: App;
  registry: RegistryStack;
  gantry: GantryStack;
}

/** Stack names: `<Name>Registry` and `<Name>`, e.g. GantryRegistry and Gantry. */
export const stackNames = (name: string) => {
  const base = name
    .split('-')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');
  return { registry: `${base}Registry`, gantry: base };
};

export function buildGantryApp(settings: InfraSettings, app = new App()): GantryApp {
  const names = stackNames(settings.name);
  const registry = new RegistryStack(app, names.registry, settings);
  const gantry = new GantryStack(app, names.gantry, settings);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, registry, gantry };
}
