import { describe, expect, it } from 'vitest';
import { InputError, parseInputs } from './inputs.ts';

const GITHUB = {
  GITHUB_REPOSITORY: 'acme/app',
  GITHUB_SHA: 'a'.repeat(40),
  GITHUB_REF: 'refs/heads/main',
  GITHUB_WORKSPACE: '/w',
};
const reader = (values: Record<string, string>) => (name: string) => values[name] ?? '';
const base = {
  'control-url': 'https://gantry.example.com/',
  'image-repository': '1234.dkr.ecr.us-east-1.amazonaws.com/acme/app',
};

const problems = (values: Record<string, string>, env: Record<string, string> = GITHUB) => {
  try {
    parseInputs(reader(values), env);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message;
  }
  throw new Error('expected the inputs to be refused');
};

describe('parseInputs', () => {
  it('reads the inputs with their defaults and the GitHub context', () => {
    expect(parseInputs(reader(base), GITHUB)).toEqual({
      controlUrl: 'https://gantry.example.com',
      imageRepository: '1234.dkr.ecr.us-east-1.amazonaws.com/acme/app',
      context: '.',
      containerfile: undefined,
      buildArgs: [],
      cacheRef: undefined,
      deployToken: undefined,
      audience: 'gantry',
      builder: 'auto',
      registryInsecure: false,
      github: { repository: 'acme/app', sha: 'a'.repeat(40), ref: 'refs/heads/main', workspace: '/w' },
    });
  });

  it('parses build args line by line, keeping = in values and skipping blanks and comments', () => {
    const i = parseInputs(
      reader({ ...base, 'build-args': 'BASE_IMAGE=node:24-slim\n\n# note\n  OPTS=a=b  \n' }),
      GITHUB,
    );
    expect(i.buildArgs).toEqual([
      ['BASE_IMAGE', 'node:24-slim'],
      ['OPTS', 'a=b'],
    ]);
  });

  it('takes a loopback registry with a port, builder and insecure flag', () => {
    const i = parseInputs(
      reader({
        ...base,
        'image-repository': '127.0.0.1:5000/hello',
        builder: 'buildah',
        'registry-insecure': 'true',
      }),
      GITHUB,
    );
    expect(i).toMatchObject({
      imageRepository: '127.0.0.1:5000/hello',
      builder: 'buildah',
      registryInsecure: true,
    });
  });

  it('names every missing required input and the missing GitHub context at once', () => {
    const m = problems({}, {});
    expect(m).toMatch(/"control-url" is required/);
    expect(m).toMatch(/"image-repository" is required/);
    expect(m).toMatch(/GITHUB_REPOSITORY is not set/);
    expect(m).toMatch(/GITHUB_SHA is not a commit id/);
  });

  it('refuses malformed values with a message naming the input', () => {
    expect(problems({ ...base, 'control-url': 'gantry.example.com' })).toMatch(
      /"control-url" must be an http\(s\) URL/,
    );
    expect(problems({ ...base, 'image-repository': 'reg.io/acme/app:latest' })).toMatch(
      /must not carry a tag/,
    );
    expect(problems({ ...base, 'image-repository': 'reg.io/acme/app@sha256:abc' })).toMatch(
      /must not carry a tag/,
    );
    expect(problems({ ...base, 'image-repository': 'Reg.io/Acme' })).toMatch(/lower-case repository/);
    expect(problems({ ...base, 'build-args': 'NOVALUE' })).toMatch(
      /"build-args": each line must be NAME=value, got "NOVALUE"/,
    );
    expect(problems({ ...base, 'build-args': '1X=y' })).toMatch(/NAME=value/);
    expect(problems({ ...base, builder: 'kaniko' })).toMatch(/"builder" must be auto, buildx or buildah/);
    expect(problems({ ...base, 'registry-insecure': 'maybe' })).toMatch(
      /"registry-insecure" must be true or false/,
    );
  });
});
