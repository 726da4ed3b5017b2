// Offline support (registered by src/app/ui/net.rs as ./sw.js): after one visit the app works
// without a network. At install this worker downloads the app shell, every JS and wasm file, the
// CSS, bundle.json and the bundled default model with its sidecar, labels and samples (PRECACHE)
// into a cache named after a hash of those files' bytes (VERSION), so every build gets its own
// cache. scripts/post_build.py (a trunk hook) fills in PRECACHE and VERSION from the staged build.
//
// Precached files (and the page itself) are served from that cache first: file names are stable
// (Trunk.toml: filehash = false), so the page and its JS/wasm must come from the same build, and
// index.html pins them with integrity hashes. A new build is picked up by the browser's update
// check of this file (its bytes change with VERSION): the new worker precaches the new build, takes
// over and deletes the old cache; the next load of the page is the new build. Every other request
// of the app's own files (e.g. a bundled model other than the default) goes to the network first
// and is kept for offline use; offline and never fetched, it gets a 503 that says so.
const VERSION = "/*VERSION*/";
// [{ url (relative to this file), integrity (SRI sha256 of the exact bytes) }], "./" = index.html.
const PRECACHE = /*PRECACHE*/[];

const PREFIX = "rlrp-web-";
const CACHE = PREFIX + VERSION;
const SCOPE = self.registration.scope;
const SHELL = new URL("./", self.location).href;
const INDEX = new URL("index.html", self.location).href;
const PRECACHED = new Set(PRECACHE.map((entry) => new URL(entry.url, self.location).href));

self.addEventListener("install", (event) => {
  // A failed download fails the install (the page then simply runs without this worker); a
  // complete one replaces the previous build's worker at once (activate deletes its cache).
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  // Only the app's own files: other origins and paths outside the scope go straight to the
  // network; so do range requests (a cached whole file does not answer them).
  if (request.method !== "GET" || !request.url.startsWith(SCOPE) || request.headers.has("range")) return;
  const key = request.url === INDEX ? SHELL : request.url;
  event.respondWith(PRECACHED.has(key) ? cacheFirst(event, key) : networkFirst(event));
});

/** Downloads every PRECACHE file (checked against its integrity hash) and stores them all, or none. */
async function precache() {
  const cache = await caches.open(CACHE);
  try {
    const responses = await Promise.all(
      PRECACHE.map(async ({ url, integrity }) => {
        // "no-cache": revalidate with the server, so the browser's HTTP cache cannot hand over an
        // older build's bytes (the integrity check would reject them anyway).
        const response = await fetch(new Request(url, { cache: "no-cache", integrity }));
        if (!response.ok) throw new Error(`precache: ${url}: HTTP ${response.status}`);
        return [url, await storable(response)];
      }),
    );
    await Promise.all(responses.map(([url, response]) => cache.put(url, response)));
  } catch (err) {
    await caches.delete(CACHE);
    throw err;
  }
}

/** A precached file from this build's cache; the network if it is missing (storage evicted). */
async function cacheFirst(event, key) {
  const hit = await caches.match(key, { cacheName: CACHE });
  if (hit) return hit;
  try {
    return await fetch(event.request);
  } catch {
    return unavailable(event.request);
  }
}

/** The network's answer (kept for offline use when it is a whole file); offline, the kept copy. */
async function networkFirst(event) {
  const request = event.request;
  let response;
  try {
    response = await fetch(request);
  } catch {
    const hit = await caches.match(request, { cacheName: CACHE });
    return hit || unavailable(request);
  }
  if (response.status === 200 && response.type === "basic") {
    const copy = response.clone();
    event.waitUntil(
      (async () => {
        const cache = await caches.open(CACHE);
        await cache.put(request, await storable(copy));
      })().catch(() => {}), // a full quota only costs the offline copy
    );
  }
  return response;
}

/** Offline and not cached: a 503 whose text the page shows (src/app/ui/net.rs). */
function unavailable(request) {
  const url = new URL(request.url);
  const file = decodeURIComponent(url.pathname.slice(new URL(SCOPE).pathname.length)) || "index.html";
  return new Response(`not available offline: ${file} was never downloaded; connect once to fetch it`, {
    status: 503,
    statusText: "Service Unavailable",
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
  });
}

/** A response that may answer any request: browsers refuse a redirected response for a page load,
 * so one that followed a redirect (e.g. "./" → "./index.html" on some hosts) is copied without it. */
async function storable(response) {
  if (!response.redirected) return response;
  return new Response(await response.blob(), { status: response.status, statusText: response.statusText, headers: response.headers });
}
