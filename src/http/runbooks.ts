import { readFile } from 'node:fs/promises';

/** docs/runbooks.md, shipped beside dist/ (package.json `files`; the Dockerfile copies it). */
const RUNBOOKS_FILE = new URL('../../docs/runbooks.md', import.meta.url);

/** The path every prober serves the runbooks at; the alert rules' runbook_url points here. */
export const RUNBOOKS_PATH = '/runbooks';

/** A heading's anchor as GitHub makes it, so `…#inventorydevicedown` works on the code host and here alike. */
export const anchorOf = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

const esc = (text: string) => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/**
 * The runbooks as one self-contained HTML page: the Markdown as written (preformatted, escaped),
 * each heading an anchor. Served by the daemon itself, so an alert's runbook link opens on any
 * replica without a docs site, and always matches the version that raised the alert.
 */
export function renderRunbooks(markdown: string): string {
  const lines = markdown.split('\n').map((line) => {
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    return heading ? `<b id="${esc(anchorOf(heading[1] as string))}">${esc(line)}</b>` : esc(line);
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>inventory-prober runbooks</title>
<style>body{margin:1.5rem;color:#222}pre{font:14px/1.45 ui-monospace,monospace;white-space:pre-wrap}b{display:inline-block;margin-top:.6rem}</style>
</head><body><pre>
${lines.join('\n')}
</pre></body></html>
`;
}

let page: Promise<string | undefined> | undefined;

/** The rendered page, read once; undefined when docs/runbooks.md was not installed with the daemon. */
export function runbooksPage(): Promise<string | undefined> {
  page ??= readFile(RUNBOOKS_FILE, 'utf8').then(renderRunbooks, () => undefined);
  return page;
}
