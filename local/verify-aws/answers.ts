/**
 * The checks of the answers `reelflow verify-aws` gets: the endpoint's (the post container's JSON line,
 * the contract ServedRecommendation) and the API's (the recommend handler's 200 body).
 */
import { z } from 'zod';
import type { ServedRecommendation } from '../../functions/contracts';
import { VerifyCheckError } from './errors';

/** What the post container answers per user (the contract ServedRecommendation). */
export const servedSchema: z.ZodType<ServedRecommendation> = z.object({
  user_id: z.number(),
  movies: z.array(z.number().int()),
  modelVersion: z.string(),
  fallback: z.literal('popular').optional(),
});

export const apiResponseSchema = z.object({
  movies: z.array(z.number().int()),
  itemList: z.array(z.object({ itemId: z.string() })),
  modelVersion: z.string(),
});

/** The answer for a known user: this version, no fallback, nothing the user already rated. */
export function checkServed(
  served: ServedRecommendation,
  user: { id: number; seen: readonly number[] },
  version: string,
  topN: number,
): string {
  if (served.user_id !== user.id)
    throw new VerifyCheckError(`answered user ${served.user_id}, asked ${user.id}`);
  if (served.modelVersion !== version)
    throw new VerifyCheckError(`modelVersion ${served.modelVersion}, expected ${version}`);
  if (served.fallback)
    throw new VerifyCheckError(
      `user ${user.id} got the '${served.fallback}' fallback: the post container could not read the user ` +
        'back from the k-NN answer (is the verbose answer forwarded?)',
    );
  if (served.movies.length === 0 || served.movies.length > topN)
    throw new VerifyCheckError(`${served.movies.length} movies, expected 1 to ${topN}`);
  const seen = new Set(user.seen);
  const repeated = served.movies.filter((m) => seen.has(m));
  if (repeated.length > 0)
    throw new VerifyCheckError(`recommended movies the user rated: ${repeated.join(', ')}`);
  return `user ${user.id}: ${served.movies.length} movies, none already rated, modelVersion ${version}`;
}

/** A 200 with `movies`, `itemList` (the same ids) and `modelVersion` (equal to `version` when given). */
export function checkApiResponse(status: number, body: string, version?: string): string {
  if (status !== 200) throw new VerifyCheckError(`status ${status}: ${body.slice(0, 200)}`);
  const parsed = apiResponseSchema.safeParse(safeJson(body));
  if (!parsed.success) throw new VerifyCheckError(`not movies/itemList/modelVersion: ${body.slice(0, 200)}`);
  const { movies, itemList, modelVersion } = parsed.data;
  if (itemList.length !== movies.length || itemList.some((item, i) => item.itemId !== String(movies[i])))
    throw new VerifyCheckError('itemList does not list the movies');
  if (version !== undefined && modelVersion !== version)
    throw new VerifyCheckError(`modelVersion ${modelVersion}, expected ${version}`);
  return `200, ${movies.length} movies, itemList, modelVersion ${modelVersion}`;
}

export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
