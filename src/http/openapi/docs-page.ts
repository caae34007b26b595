/**
 * A small self-contained HTML page that lists the operations of the OpenAPI document.
 */

/** A self-contained HTML page listing the operations (no external scripts). */
export function docsPage(doc: Record<string, unknown>): string {
  const esc = (s: string) =>
    s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  const rows: string[] = [];
  for (const [path, ops] of Object.entries(
    doc.paths as Record<string, Record<string, { summary: string; tags: string[] }>>,
  )) {
    for (const [method, op] of Object.entries(ops)) {
      rows.push(
        `<tr><td class="m ${method}">${method.toUpperCase()}</td><td><code>${esc(path)}</code></td><td>${esc(op.summary)}</td><td>${esc(op.tags.join(', '))}</td></tr>`,
      );
    }
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tenancy API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:1000px;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse;width:100%}td{padding:.35rem .5rem;border-bottom:1px solid #ddd}.m{font-weight:600;font-family:monospace}.get{color:#0a6}.post{color:#06c}.patch{color:#a60}.delete{color:#c22}</style>
</head><body><h1>Tenancy control plane API</h1><p>Version ${esc(String((doc.info as { version: string }).version))}. The machine-readable description is at <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Errors are <code>application/problem+json</code> with a stable <code>code</code>.</p>
<table><thead><tr><th>Method</th><th>Path</th><th>What it does</th><th>Tag</th></tr></thead><tbody>${rows.join('')}</tbody></table></body></html>`;
}
