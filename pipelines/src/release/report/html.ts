/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** A table from a header row and body rows of already-escaped HTML cells. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const head = header.map((cell) => `<th>${cell}</th>`).join('');
  const body = rows.map((row) => `<tr>${row.map((cell) => `<td>${cell}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const STYLE = `
:root { color-scheme: light; }
body { font: 14px/1.45 'DejaVu Sans', system-ui, sans-serif; color: #1c2430; margin: 24px auto; max-width: 1360px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #dde3ea; }
h3 { font-size: 15px; margin: 18px 0 6px; }
table { border-collapse: collapse; margin: 6px 0 12px; } th, td { border: 1px solid #dde3ea; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f6f9; } code { font: 12px 'DejaVu Sans Mono', monospace; word-break: break-all; }
.passed, .promoted, .data { color: #17703a; font-weight: bold; } .failed, .rolled-back, .refused, .no-data { color: #b3261e; font-weight: bold; }
.inconclusive, .running, .cluster-only, .no-release { color: #8a5a00; font-weight: bold; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; } figure.chart { margin: 0; border: 1px solid #dde3ea; padding: 4px; background: #fff; }
figure.chart figcaption { font-size: 12px; color: #46505c; max-width: 640px; padding: 2px 4px; }
.note { color: #46505c; }
`;

/** A whole self-contained page: inline style, no script, nothing loaded from elsewhere. */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
</body>
</html>
`;
}
