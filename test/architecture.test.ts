/**
 * Enforces the architecture rules of the CDK code with the TypeScript compiler API: in `pipeline/` and
 * `infra/`, no file over MAX_FILE_LINES lines and no function (declaration, method, constructor,
 * accessor, arrow function, function expression) whose body spans more than MAX_FUNCTION_LINES lines;
 * and imports between the two folders run one way: `infra/` may import `pipeline/`, never the reverse.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const ROOT = path.join(__dirname, '..');
const CHECKED_FOLDERS = ['pipeline', 'infra'] as const;
const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 80;

/** Every .ts file under `folder` (relative to the repository root), sorted. */
function sourceFiles(folder: string): string[] {
  const entries = fs.readdirSync(path.join(ROOT, folder), { recursive: true, encoding: 'utf8' });
  return entries
    .filter((entry) => entry.endsWith('.ts') && !entry.endsWith('.d.ts'))
    .map((entry) => path.join(folder, entry).split(path.sep).join('/'))
    .sort();
}

function parse(file: string): ts.SourceFile {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  return ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
}

/** Lines of a text, as `wc -l` counts them plus a last line without a newline. */
function lineCount(text: string): number {
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

function lineOf(source: ts.SourceFile, position: number): number {
  return source.getLineAndCharacterOfPosition(position).line + 1;
}

/** A readable name for a function node: `Class.method`, `constructor of Class`, `name`, or its line. */
function functionName(node: ts.FunctionLikeDeclaration, source: ts.SourceFile): string {
  const owner = ts.isClassLike(node.parent) && node.parent.name ? `${node.parent.name.text}.` : '';
  if (ts.isConstructorDeclaration(node)) return `constructor of ${owner.slice(0, -1) || 'class'}`;
  if (node.name) return `${owner}${node.name.getText(source)}`;
  const parent = node.parent;
  if (
    ts.isVariableDeclaration(parent) ||
    ts.isPropertyAssignment(parent) ||
    ts.isPropertyDeclaration(parent)
  ) {
    return parent.name.getText(source);
  }
  return `${ts.isArrowFunction(node) ? 'arrow function' : 'function'} at line ${lineOf(source, node.getStart(source))}`;
}

/** Functions whose body spans more than MAX_FUNCTION_LINES lines, as `file:line name (n lines)`. */
function longFunctions(file: string): string[] {
  const source = parse(file);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const body = node.body as ts.Node;
      const lines = lineOf(source, body.getEnd()) - lineOf(source, body.getStart(source)) + 1;
      if (lines > MAX_FUNCTION_LINES) {
        const start = lineOf(source, node.getStart(source));
        found.push(
          `${file}:${start} ${functionName(node as ts.FunctionLikeDeclaration, source)} (${lines} lines)`,
        );
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Module specifiers of a file: static imports, re-exports, `import()` and `require()`. */
function moduleSpecifiers(source: ts.SourceFile): { specifier: string; line: number }[] {
  const found: { specifier: string; line: number }[] = [];
  const visit = (node: ts.Node): void => {
    let specifier: ts.Expression | undefined;
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) specifier = node.moduleSpecifier;
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      specifier = node.moduleReference.expression;
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(node.expression) && node.expression.text === 'require'))
    ) {
      specifier = node.arguments[0];
    }
    if (specifier && ts.isStringLiteralLike(specifier)) {
      found.push({ specifier: specifier.text, line: lineOf(source, node.getStart(source)) });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Imports of a pipeline/ file that resolve into infra/, as `file:line -> specifier`. */
function upwardImports(file: string): string[] {
  return moduleSpecifiers(parse(file))
    .filter(({ specifier }) => specifier.startsWith('.'))
    .filter(({ specifier }) => {
      const target = path.relative(ROOT, path.resolve(ROOT, path.dirname(file), specifier));
      return target === 'infra' || target.startsWith(`infra${path.sep}`);
    })
    .map(({ specifier, line }) => `${file}:${line} -> ${specifier}`);
}

describe('architecture of pipeline/ and infra/', () => {
  const files = CHECKED_FOLDERS.flatMap(sourceFiles);

  it('finds the files it checks', () => {
    expect(files).toContain('pipeline/render.ts');
    expect(files).toContain('infra/app.ts');
  });

  it(`has no file over ${MAX_FILE_LINES} lines`, () => {
    const tooLong = files
      .map((file) => ({ file, lines: lineCount(fs.readFileSync(path.join(ROOT, file), 'utf8')) }))
      .filter(({ lines }) => lines > MAX_FILE_LINES)
      .map(({ file, lines }) => `${file} (${lines} lines)`);
    expect(tooLong).toEqual([]);
  });

  it(`has no function body over ${MAX_FUNCTION_LINES} lines`, () => {
    expect(files.flatMap(longFunctions)).toEqual([]);
  });

  it('never imports infra/ from pipeline/', () => {
    expect(files.filter((file) => file.startsWith('pipeline/')).flatMap(upwardImports)).toEqual([]);
  });
});
