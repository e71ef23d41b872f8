/**
 * Test support: synthesise the whole app once from a context, with cdk-nag on, and hand back the
 * templates, or every finding by rule and path when cdk-nag (or another validation) refused it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Annotations, Template } from 'aws-cdk-lib/assertions';
import { buildGantryApp, type GantryApp } from '../gantry-app.ts';
import { parseSettings } from '../settings.ts';

export interface Synthesised extends GantryApp {
  registryTemplate: Template;
  gantryTemplate: Template;
  /** Read now: reading annotations later would synthesise again, into a folder already gone. */
  gantryAnnotations: Annotations;
}

interface ValidationReport {
  pluginReports: {
    pluginName: string;
    violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[];
  }[];
}

export function synthGantry(context: Record<string, unknown>): Synthesised {
  const outdir = mkdtempSync(path.join(tmpdir(), 'gantry-infra-'));
  try {
    const built = buildGantryApp(parseSettings(context), new App({ outdir }));
    try {
      built.app.synth();
    } catch (err) {
      let report: ValidationReport;
      try {
        report = JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
      } catch {
        throw err;
      }
      const findings = report.pluginReports.flatMap((p) =>
        p.violations.map(
          (v) => `${v.ruleName} at ${v.violatingConstructs.map((c) => c.constructPath).join(', ')}`,
        ),
      );
      throw new Error(`synth refused with ${findings.length} finding(s):\n  ${findings.join('\n  ')}`);
    }
    return {
      ...built,
      registryTemplate: Template.fromStack(built.registry),
      gantryTemplate: Template.fromStack(built.gantry),
      gantryAnnotations: Annotations.fromStack(built.gantry),
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** A template's resources as the tests walk them. */
export type Resources = Record<
  string,
  // biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped; the assertions check its shape.
  { Type: string; Properties: Record<string, any>; DependsOn?: string[] }
>;

/** The resources of one type, with their logical ids. */
export const resourcesOfType = (template: Template, type: string) =>
  Object.entries((template.toJSON() as { Resources: Resources }).Resources).filter(
    ([, r]) => r.Type === type,
  );

/** Every IAM statement of a template (managed, inline and role policies), with where it is. */
export function iamStatements(template: Template): { where: string; statement: Record<string, unknown> }[] {
  const out: { where: string; statement: Record<string, unknown> }[] = [];
  const json = template.toJSON() as {
    Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
  };
  for (const [id, r] of Object.entries(json.Resources)) {
    const docs: unknown[] = [];
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy')
      docs.push(r.Properties?.PolicyDocument);
    if (r.Type === 'AWS::IAM::Role') {
      for (const p of (r.Properties?.Policies as { PolicyDocument: unknown }[] | undefined) ?? [])
        docs.push(p.PolicyDocument);
    }
    for (const doc of docs) {
      for (const statement of (doc as { Statement: Record<string, unknown>[] }).Statement)
        out.push({ where: id, statement });
    }
  }
  return out;
}

/** The context the tests deploy against: every feature on. */
export const FULL_CONTEXT = {
  name: 'gantry',
  vpcEndpoints: true,
  certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0f6e2f9c-1111-4222-8333-444455556666',
  domainName: 'gantry.example.com',
  githubRepositories: ['acme/sd-turbo', 'acme/whisper'],
  machineTypes: {
    'GPU-A10G': { instanceType: 'g5.xlarge', maxInstances: 4, warmPool: 1 },
    'GPU-L4': { instanceType: 'g6.xlarge', maxInstances: 2, warmPool: 0 },
  },
  databaseMultiAz: true,
  alarmEmail: 'oncall@example.com',
};
