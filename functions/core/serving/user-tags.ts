/**
 * User tags: how the post container learns which user a k-NN answer belongs to.
 *
 * In a SageMaker serial inference pipeline the container after the built-in k-NN receives only the
 * k-NN response (neighbour labels and distances). The post step must still know the user, to drop the
 * movies the user rated in training. Instead of relying on headers being forwarded between
 * containers, the user travels in-band, through documented k-NN behaviour only:
 *
 * - the index gets B extra dimensions and B *tag rows*: tag row j is the unit vector on extra
 *   dimension j, labelled TAG_LABEL_BASE + j; movie rows are 0 on the extra dimensions;
 * - for each user the pre step sends the user vector with TAG_SUPPRESS on every extra dimension (tag
 *   rows then score far below any movie), followed by a *tag query*: 0 on the movie dimensions and
 *   +1 / -1 on extra dimension j as bit j of the user's code is set or not;
 * - the tag query's neighbours with an inner product > 0.5 are exactly the tag rows of the set bits,
 *   so the post step reads the code back.
 *
 * The code is the requested MovieLens user id + 1 (never 0, so a decoded 0 proves a broken index), over
 * a fixed TAG_BITS bits: the post step knows the requested id even for a user the version does not know,
 * and every version has the same index width. Costs: TAG_BITS more dimensions, one more query per user,
 * and k >= TAG_BITS (checked in config).
 */

/** Labels of tag rows: 16,000,000 + bit. Exact in float32 and far above any MovieLens movie id. */
export const TAG_LABEL_BASE = 16_000_000;
/** Tag bits: codes up to 2^24 - 1, so user ids up to MAX_TAGGED_USER_ID. */
export const TAG_BITS = 24;
/** Largest user id the serving path accepts (its code, id + 1, must fit in TAG_BITS bits). */
export const MAX_TAGGED_USER_ID = 2 ** TAG_BITS - 2;
/** Value of the user query on the tag dimensions: tag rows score -1e6, below every real movie. */
export const TAG_SUPPRESS = -1e6;

/** Thrown when tags cannot be encoded or a k-NN answer carries no valid tag. */
export class UserTagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserTagError';
  }
}

/** True when a k-NN label is a tag row's label. */
export function isTagLabel(label: number): boolean {
  return label >= TAG_LABEL_BASE && label < TAG_LABEL_BASE + TAG_BITS;
}

/**
 * Appends the tag rows to a movie index: returns vectors of dimension `dim + bits` (movie rows padded
 * with zeros, then one unit row per bit) and their labels.
 */
export function appendTagRows(
  movieVectors: Float32Array,
  movieLabels: Float32Array,
  dim: number,
  bits: number,
): { vectors: Float32Array; labels: Float32Array; dim: number } {
  const count = movieLabels.length;
  if (movieVectors.length !== count * dim) {
    throw new UserTagError(`movie vectors hold ${movieVectors.length} floats, expected ${count} x ${dim}`);
  }
  const outDim = dim + bits;
  const vectors = new Float32Array((count + bits) * outDim);
  const labels = new Float32Array(count + bits);
  for (let i = 0; i < count; i++) {
    vectors.set(movieVectors.subarray(i * dim, (i + 1) * dim), i * outDim);
    labels[i] = movieLabels[i];
  }
  for (let j = 0; j < bits; j++) {
    vectors[(count + j) * outDim + dim + j] = 1;
    labels[count + j] = TAG_LABEL_BASE + j;
  }
  return { vectors, labels, dim: outDim };
}

/**
 * Writes the two query rows of one user into `out` at row `row` (rows `row` and `row + 1`, each of
 * dimension `dim + bits`): the user vector (zeros when the version does not know the user) with
 * TAG_SUPPRESS on the tag dimensions, then the tag query for `code` (user id + 1).
 */
export function writeUserQueries(
  out: Float32Array,
  row: number,
  userVector: Float32Array | null,
  dim: number,
  bits: number,
  code: number,
): void {
  const width = dim + bits;
  if (code < 0 || code >= 2 ** bits || !Number.isInteger(code)) {
    throw new UserTagError(`code ${code} does not fit in ${bits} tag bits`);
  }
  const q = row * width;
  if (userVector) out.set(userVector.subarray(0, dim), q);
  else out.fill(0, q, q + dim);
  out.fill(TAG_SUPPRESS, q + dim, q + width);
  const t = q + width;
  out.fill(0, t, t + dim);
  for (let j = 0; j < bits; j++) out[t + dim + j] = (code >>> j) & 1 ? 1 : -1;
}

/**
 * Reads the code back from the tag query's neighbours (any order): a tag label at a distance (inner
 * product) above 0.5 is a set bit. Throws when no bit is set: codes are never 0, so the index was not
 * built with user tags or k < bits.
 */
export function decodeUserCode(
  labels: ArrayLike<number>,
  distances: ArrayLike<number>,
  bits: number,
): number {
  let code = 0;
  for (let i = 0; i < labels.length; i++) {
    const label = Math.round(labels[i]);
    if (!isTagLabel(label)) continue;
    const bit = label - TAG_LABEL_BASE;
    if (bit >= bits) throw new UserTagError(`tag label ${label} is outside the index's ${bits} tag bits`);
    if (distances[i] > 0.5) code |= 1 << bit;
  }
  if (code === 0) {
    throw new UserTagError(
      'the k-NN answer to the tag query sets no tag bit: is the index built with user tags, k >= 24?',
    );
  }
  return code >>> 0;
}

/** The tag code of a user id (id + 1); throws for ids the tags cannot carry. */
export function userCode(userId: number): number {
  if (!Number.isSafeInteger(userId) || userId < 0 || userId > MAX_TAGGED_USER_ID) {
    throw new UserTagError(`user_id must be an integer from 0 to ${MAX_TAGGED_USER_ID}, got ${userId}`);
  }
  return userId + 1;
}
