/**
 * `reelflow prepare --data <file|folder> --out <folder>`: the core's prepare step (ingest, validate,
 * split, encode) on local files, writing a run's prepared artifacts into a folder (directorySink), as the
 * Prepare handler writes them to S3. Rejected data prints the validation report and exits 2.
 */
import { relative } from 'node:path';
import { RATING_FORMATS, type RatingFormatOption } from '../functions/core/config';
import { DataRejectedError, fileSource } from '../functions/core/ingest';
import { prepareRun } from '../functions/core/prepare';
import { directorySink } from '../functions/core/sink';
import { EXIT, UsageError, type ParsedArgs } from './cli-args';
import { loadDeployConfig } from './config';
import { selectRatingFiles } from './data-files';

export async function prepareCommand(args: ParsedArgs): Promise<number> {
  const { data, out, config: configFile, format } = args.values;
  if (typeof data !== 'string' || typeof out !== 'string')
    throw new UsageError('prepare needs --data and --out');
  if (format !== undefined && !(RATING_FORMATS as readonly unknown[]).includes(format)) {
    throw new UsageError(`--format must be one of ${RATING_FORMATS.join(', ')}`);
  }
  const deploy = await loadDeployConfig({ configFile: configFile as string | undefined });
  const config = format
    ? { ...deploy.ml, ingest: { ...deploy.ml.ingest, format: format as RatingFormatOption } }
    : deploy.ml;
  const selection = await selectRatingFiles(data, { allFiles: config.split.mode === 'predefined' });
  const sources = selection.files.map((file) => fileSource(file, relative(data, file) || undefined));
  try {
    const { manifest, report } = await prepareRun({
      sources,
      sink: directorySink(out),
      config,
      onProgress: (event) => {
        if (event.stage === 'ingest')
          process.stderr.write(`  ingest: ${event.rows.toLocaleString('en-US')} rows\n`);
        else process.stderr.write(`  ${event.stage}: ${event.detail}\n`);
      },
    });
    process.stdout.write(
      `${report.message}\n` +
        `prepared ${manifest.ratings.toLocaleString('en-US')} ratings: ${manifest.users.toLocaleString('en-US')} users x ` +
        `${manifest.movies.toLocaleString('en-US')} movies (feature_dim ${manifest.featureDim}); ` +
        `${manifest.train.examples.toLocaleString('en-US')} train / ${manifest.test.examples.toLocaleString('en-US')} test examples, ` +
        `${manifest.testUsers.toLocaleString('en-US')} test users\nwrote ${out}\n`,
    );
    return EXIT.ok;
  } catch (error) {
    if (error instanceof DataRejectedError) {
      process.stderr.write(`${JSON.stringify(error.report, null, 2)}\nreelflow prepare: ${error.message}\n`);
      return EXIT.dataRejected;
    }
    throw error;
  }
}
