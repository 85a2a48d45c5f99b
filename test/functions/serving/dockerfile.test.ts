/**
 * The serving image's container contract with SageMaker, checked on the Dockerfile itself: SageMaker
 * runs the container as `docker run <image> serve` as root, and in an inference pipeline tells it the
 * port in SAGEMAKER_BIND_TO_PORT (which the image must declare it honours).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const DOCKERFILE = path.join(__dirname, '..', '..', '..', 'functions', 'serving', 'Dockerfile');

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** The instructions of a Dockerfile: comments dropped, continuation lines joined. */
function parseDockerfile(text: string): Instruction[] {
  const logical = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  return logical.map((line) => {
    const [keyword, ...rest] = line.split(/\s+/);
    return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
  });
}

/** The instructions of the last stage (after the last FROM). */
function finalStage(instructions: Instruction[]): Instruction[] {
  const lastFrom = instructions.map((i) => i.keyword).lastIndexOf('FROM');
  return instructions.slice(lastFrom);
}

describe('functions/serving/Dockerfile', () => {
  const stage = finalStage(parseDockerfile(fs.readFileSync(DOCKERFILE, 'utf8')));
  const all = (keyword: string) => stage.filter((i) => i.keyword === keyword);

  it('runs the final stage as root (no USER, or USER root)', () => {
    for (const user of all('USER')) expect(user.args).toMatch(/^(root|0)(:(root|0))?$/);
  });

  it('has an exec-form ENTRYPOINT that accepts the serve argument', () => {
    const entrypoints = all('ENTRYPOINT');
    expect(entrypoints).toHaveLength(1);
    const argv = JSON.parse(entrypoints[0].args) as unknown;
    expect(Array.isArray(argv)).toBe(true);
    expect(argv).toEqual(['node', '/app/server.js']);
    // No CMD that would replace SageMaker's `serve`, and no shell form that would swallow it.
    expect(all('CMD')).toHaveLength(0);
  });

  it('declares that it honours SAGEMAKER_BIND_TO_PORT and exposes 8080', () => {
    expect(all('LABEL').map((l) => l.args)).toContain(
      'com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true',
    );
    expect(all('EXPOSE').map((e) => e.args)).toEqual(['8080']);
  });

  it('parses continuation lines and comments', () => {
    expect(parseDockerfile('FROM a AS b\n# c\nRUN x \\\n  y\nUSER node\n')).toEqual([
      { keyword: 'FROM', args: 'a AS b' },
      { keyword: 'RUN', args: 'x y' },
      { keyword: 'USER', args: 'node' },
    ]);
  });
});
