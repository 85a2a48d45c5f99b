/**
 * `reelflow prepare --data <file|folder> --out <folder>`: the core's prepare step (ingest, validate,
 * split, encode) on local files, writing a run's prepared artifacts into a folder (directorySink), as the
 * Prepare handler writes them to S3.
 *
 * Exit codes: 0 prepared; 2 the data was rejected (the validation report is printed and written as
 * `validation.json`); 1 anything else (an unreadable input, a full disk, an `--out` that cannot be a
 * folder, an invalid configuration), always as one line naming the path, never a stack trace.
 */
import { stat } from 'node:fs/promises';
import { relative } from 'node:path';
import { ConfigError, RATING_FORMATS, type RatingFormatOption } from '../functions/core/config';
import { DataRejectedError, fileSource } from '../functions/core/ingest';
import { prepareRun } from '../functions/core/prepare';
import { describeIoError, directorySink, makeDirectory, type OpenWriteStream } from '../functions/core/sink';
import { EXIT, UsageError, type ParsedArgs } from './cli-args';
import { loadDeployConfig } from './config';
import { selectRatingFiles } from './data-files';

/** What tests inject: output, the clock, the file streams. */
export interface PrepareCommandDeps {
  /** @default process.stdout.write */
  readonly stdout?: (text: string) => void;
  /** @default process.stderr.write */
  readonly stderr?: (text: string) => void;
  /** The time future timestamps are judged against. @default new Date() */
  readonly now?: Date;
  /** Opens the artifact files streamed into (a failing stream simulates a full disk). */
  readonly openWriteStream?: OpenWriteStream;
}

/** A failure of the command that is not a data rejection: printed as its message alone. */
class PrepareFailure extends Error {}

export async function prepareCommand(args: ParsedArgs, deps: PrepareCommandDeps = {}): Promise<number> {
  const { data, out, config: configFile, format } = args.values;
  if (typeof data !== 'string' || typeof out !== 'string')
    throw new UsageError('prepare needs --data and --out');
  if (format !== undefined && !(RATING_FORMATS as readonly unknown[]).includes(format)) {
    throw new UsageError(`--format must be one of ${RATING_FORMATS.join(', ')}`);
  }
  const stdout = deps.stdout ?? ((text: string) => void process.stdout.write(text));
  const stderr = deps.stderr ?? ((text: string) => void process.stderr.write(text));
  try {
    const deploy = await loadDeployConfig({ configFile: configFile as string | undefined });
    const config = format
      ? { ...deploy.ml, ingest: { ...deploy.ml.ingest, format: format as RatingFormatOption } }
      : deploy.ml;
    await checkDataPath(data);
    // The output folder first: a run that cannot write its results fails before reading gigabytes.
    await makeDirectory(out).catch((error: unknown) => {
      throw new PrepareFailure(`--out ${out}: cannot create the folder: ${describeIoError(error)}`);
    });
    const selection = await selectRatingFiles(data, { predefinedSplit: config.split.mode === 'predefined' });
    const sources = selection.files.map((file) => fileSource(file, relative(data, file) || undefined));
    const { manifest, report } = await prepareRun({
      sources,
      sink: directorySink(out, { openWriteStream: deps.openWriteStream }),
      config,
      now: deps.now,
      onProgress: (event) => {
        if (event.stage === 'ingest') stderr(`  ingest: ${event.rows.toLocaleString('en-US')} rows\n`);
        else stderr(`  ${event.stage}: ${event.detail}\n`);
      },
    });
    stdout(
      `${report.message}\n` +
        `prepared ${manifest.ratings.toLocaleString('en-US')} ratings: ${manifest.users.toLocaleString('en-US')} users x ` +
        `${manifest.movies.toLocaleString('en-US')} movies (feature_dim ${manifest.featureDim}); ` +
        `${manifest.train.examples.toLocaleString('en-US')} train / ${manifest.test.examples.toLocaleString('en-US')} test examples, ` +
        `${manifest.testUsers.toLocaleString('en-US')} test users\nwrote ${out}\n`,
    );
    return EXIT.ok;
  } catch (error) {
    if (error instanceof DataRejectedError) {
      stderr(`${JSON.stringify(error.report, null, 2)}\nreelflow prepare: ${error.message}\n`);
      return EXIT.dataRejected;
    }
    if (error instanceof UsageError) throw error;
    if (error instanceof ConfigError) {
      stderr(`reelflow prepare: invalid configuration: ${error.message.split('\n').join('; ')}\n`);
    } else {
      stderr(`reelflow prepare: ${oneLine(error)}\n`);
    }
    return EXIT.failed;
  }
}

/** `--data` must be a readable regular file or folder (a FIFO would block the read forever). */
async function checkDataPath(data: string): Promise<void> {
  let info;
  try {
    info = await stat(data);
  } catch (error) {
    throw new PrepareFailure(`--data ${data}: ${describeIoError(error)}`);
  }
  if (info.isFile() || info.isDirectory()) return;
  const what = info.isFIFO() ? 'a FIFO (named pipe)' : info.isSocket() ? 'a socket' : 'a device';
  throw new PrepareFailure(`--data ${data}: is ${what}, not a regular file or folder`);
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0];
}
