/**
 * A result as JSON, with previews of the files in it: fal-style file objects (`{url,
 * content_type}`) and bare URLs or data URLs of images, audio and video.
 */
import { pretty } from './format.ts';

interface FileRef {
  url: string;
  kind: 'image' | 'audio' | 'video';
}

const EXT: Record<string, FileRef['kind']> = {
  png: 'image',
  jpg: 'image',
  jpeg: 'image',
  gif: 'image',
  webp: 'image',
  svg: 'image',
  mp3: 'audio',
  wav: 'audio',
  ogg: 'audio',
  mp4: 'video',
  webm: 'video',
};

function kindOf(url: string, contentType?: unknown): FileRef['kind'] | undefined {
  const type = typeof contentType === 'string' ? contentType : /^data:([^;,]+)/.exec(url)?.[1];
  if (type) {
    const major = type.split('/')[0];
    if (major === 'image' || major === 'audio' || major === 'video') return major;
  }
  const ext = /\.([a-z0-9]+)(?:[?#]|$)/i.exec(url)?.[1]?.toLowerCase();
  return ext ? EXT[ext] : undefined;
}

const safeUrl = (u: string) => /^(https?:|data:(image|audio|video)\/|\/)/i.test(u);

/** Every previewable file in a value, depth-first, at most 12. */
export function findFiles(value: unknown, out: FileRef[] = [], depth = 0): FileRef[] {
  if (out.length >= 12 || depth > 6) return out;
  if (typeof value === 'string') {
    const kind = safeUrl(value) ? kindOf(value) : undefined;
    if (kind) out.push({ url: value, kind });
  } else if (Array.isArray(value)) {
    for (const v of value) findFiles(v, out, depth + 1);
  } else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.url === 'string' && safeUrl(o.url)) {
      const kind = kindOf(o.url, o.content_type);
      if (kind) {
        out.push({ url: o.url, kind });
        return out;
      }
    }
    for (const v of Object.values(o)) findFiles(v, out, depth + 1);
  }
  return out;
}

export function ResultView(props: { value: unknown; label: string }) {
  const files = findFiles(props.value);
  return (
    <section class="result" aria-label={props.label}>
      {files.length > 0 && (
        <div class="previews">
          {files.map((f, i) =>
            f.kind === 'image' ? (
              <img key={f.url} src={f.url} alt={`${props.label}: file ${i + 1}`} />
            ) : f.kind === 'audio' ? (
              // biome-ignore lint/a11y/useMediaCaption: the app's output has no captions to offer
              <audio key={f.url} src={f.url} controls aria-label={`${props.label}: audio ${i + 1}`} />
            ) : (
              // biome-ignore lint/a11y/useMediaCaption: the app's output has no captions to offer
              <video key={f.url} src={f.url} controls aria-label={`${props.label}: video ${i + 1}`} />
            ),
          )}
        </div>
      )}
      <pre>{pretty(props.value)}</pre>
    </section>
  );
}
