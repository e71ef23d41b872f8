/**
 * What `gantry deploy --image` accepts: an image reference pinned by digest,
 * `[registry[:port]/]repository[:tag]@sha256:<64 hex digits>`, with the repository spelled as
 * registries require (lowercase path components). A revision is immutable, and rolling back to it must
 * run the same bytes; a tag can be pushed over, a digest cannot.
 */
import { usageError } from './exit-codes.ts';

const DOMAIN_PART = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `${DOMAIN_PART}(?:\\.${DOMAIN_PART})*(?::[0-9]+)?`;
const PATH_PART = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^(?:${DOMAIN}/)?${PATH_PART}(?:/${PATH_PART})*(?::[\\w][\\w.-]{0,127})?$`);
const DIGEST = /^sha256:[a-f0-9]{64}$/;

const SHAPE = 'REPOSITORY@sha256:<64 hex digits> (e.g. ghcr.io/acme/sdxl@sha256:3f…)';

/** The reference as given, once it is a well-formed one pinned by a sha256 digest; else a usage error. */
export function parseImageRef(raw: string): string {
  const ref = raw.trim();
  if (ref === '') throw usageError(`--image is empty: name the image as ${SHAPE}.`);
  const at = ref.indexOf('@');
  if (at < 0) {
    throw usageError(
      `--image "${ref}" is not pinned by digest: name it as ${SHAPE}. A revision is immutable, and ` +
        'a rollback to it must run the same image, while a tag can later point at other content. ' +
        '`docker push` prints the digest; `skopeo inspect docker://IMAGE` shows it.',
    );
  }
  const [name, digest] = [ref.slice(0, at), ref.slice(at + 1)];
  if (!DIGEST.test(digest)) {
    throw usageError(
      `--image "${ref}": the digest must be sha256: and 64 lowercase hex digits, got "${digest}".`,
    );
  }
  if (!NAME.test(name)) {
    throw usageError(
      `--image "${ref}" is not an image reference: before the "@" comes [registry[:port]/]repository[:tag], ` +
        'with a lowercase repository of letters, digits and . _ - separators.',
    );
  }
  return ref;
}
