// A tiny static server for the end-to-end tests and the benchmark: serves a directory (the trunk
// build, dist/) on 127.0.0.1 at a random free port UNDER A SUB-PATH, so that the tests prove the
// page uses relative URLs only. Anything outside the sub-path is a 404, and every request is logged.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.onnx': 'application/octet-stream',
  '.webmanifest': 'application/manifest+json',
};

/**
 * Serves `root` at http://127.0.0.1:PORT`prefix` (prefix starts and ends with '/').
 * Returns { url, origin, requests, close }: `requests` lists every request as { method, path, status }.
 * `headers` are added to every successful response (e.g. COOP/COEP for a cross-origin isolated page).
 */
export async function serve(root, prefix = '/e2e/sub/path/', headers = {}) {
  root = path.resolve(root);
  const requests = [];
  const server = http.createServer((req, res) => {
    const record = (status) => requests.push({ method: req.method, path: req.url, status });
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      record(400);
      res.writeHead(400).end();
      return;
    }
    if (!pathname.startsWith(prefix) || (req.method !== 'GET' && req.method !== 'HEAD')) {
      record(404);
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    let file = path.join(root, pathname.slice(prefix.length));
    if (file !== root && !file.startsWith(root + path.sep)) {
      record(403);
      res.writeHead(403).end();
      return;
    }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
    fs.readFile(file, (err, body) => {
      if (err) {
        record(404);
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      record(200);
      res.writeHead(200, {
        'content-type': TYPES[path.extname(file).toLowerCase()] || 'application/octet-stream',
        'content-length': body.length,
        'cache-control': 'no-cache',
        ...headers,
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    url: origin + prefix,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

// `node tests/e2e/server.mjs [DIR]`: serve a directory by hand (prints the URL).
if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2] || 'dist';
  const s = await serve(dir);
  console.log(`serving ${path.resolve(dir)} at ${s.url}`);
}
