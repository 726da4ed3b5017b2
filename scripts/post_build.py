#!/usr/bin/env python3
"""trunk post_build hook (Trunk.toml), on the staging copy of dist/:
1. drop the `name` custom section (function names, for debuggers only) from every .wasm: rustc keeps
   it on wasm32 whatever the profile's `strip` says, and it is about a tenth of the download;
   then refresh the sha384 `integrity` of those files in index.html;
2. put the sha256 of every inline <script> of index.html into the page's Content-Security-Policy
   (in place of SCRIPT_HASHES), so that no 'unsafe-inline' is needed;
3. last, once every other file is final, write the service worker's precache manifest into sw.js
   (in place of its PRECACHE and VERSION placeholders): the app shell, every JS and wasm file, the
   CSS, bundle.json and the bundled default model with its sidecar, labels and samples, each with
   the SRI sha256 of its bytes, and VERSION, a hash of them all (the worker's cache name carries it).
   tests/e2e/offline.test.mjs recomputes VERSION the same way.
Before 1's integrity, the engine's worker goes through binaryen's wasm-opt ([`optimised`])."""
import base64
import glob
import hashlib
import json
import os
import re
import subprocess
import sys


def leb128(data, i):
    """Reads an unsigned LEB128 number at i; returns (value, next index)."""
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def without_name_section(wasm):
    """The module with its custom section named "name" removed (every other section kept as is)."""
    if wasm[:4] != b"\0asm":
        raise ValueError("not a WebAssembly module")
    out, i = bytearray(wasm[:8]), 8
    while i < len(wasm):
        start, section_id = i, wasm[i]
        size, body = leb128(wasm, i + 1)
        end = body + size
        if end > len(wasm):
            raise ValueError("truncated section")
        is_names = False
        if section_id == 0:
            name_len, name_at = leb128(wasm, body)
            is_names = wasm[name_at : name_at + name_len] == b"name"
        if not is_names:
            out += wasm[start:end]
        i = end
    return bytes(out)


def sri(data):
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WASM_OPT = os.path.join(REPO, "tools", "wasm-opt", "node_modules", ".bin", "wasm-opt")
# The features rustc's wasm32 target enables (with +simd128, .cargo/config.toml): wasm-opt must
# accept their instructions and may use no others.
WASM_OPT_FLAGS = ["-O1", "--duplicate-function-elimination", "--enable-simd", "--enable-bulk-memory",
                  "--enable-nontrapping-float-to-int", "--enable-sign-ext", "--enable-mutable-globals",
                  "--enable-reference-types", "--enable-multivalue"]


def optimised(wasm, name):
    """The engine's worker through binaryen's wasm-opt -O1 (tools/wasm-opt, which scripts/setup.sh
    installs): ~37 kB gzip less, what keeps both wasm files under the 3 MB download budget; then
    duplicate-function elimination (identical bodies merged: 1.8 kB gzip less, nothing run differs). -O1,
    not -O2 or -Os: after those, Chromium's pixel flipping took 26 % longer (the cropped passes'
    rest of the model slowed from ~30 to ~42 ms after their first dozens, and ran at full speed
    with V8's wasm inlining turned off), while -O1 is as fast as no wasm-opt there and the smallest
    of the three. It takes ~50 s on 2 cores, so the result is kept under target/wasm-opt/ by the
    input's hash: a build that changed nothing does not pay it again. RLRP_NO_WASM_OPT=1 skips it
    (tests/e2e/profile-worker.mjs needs the module as cargo built it)."""
    if os.environ.get("RLRP_NO_WASM_OPT") == "1":
        return wasm
    if not os.path.exists(WASM_OPT):
        sys.exit(f"post_build.py: no {WASM_OPT}: run scripts/setup.sh (it installs tools/wasm-opt)")
    version = open(os.path.join(REPO, "tools", "wasm-opt", "package-lock.json"), "rb").read()
    key = hashlib.sha256(wasm + " ".join(WASM_OPT_FLAGS).encode() + version).hexdigest()
    cache = os.path.join(REPO, "target", "wasm-opt")
    kept = os.path.join(cache, key + ".wasm")
    if os.path.exists(kept):
        return open(kept, "rb").read()
    os.makedirs(cache, exist_ok=True)
    source, result = kept + ".in", kept + ".tmp"
    open(source, "wb").write(wasm)
    print(f"post_build.py: wasm-opt {' '.join(WASM_OPT_FLAGS)} on {name} (~50 s; kept for the next build)", flush=True)
    subprocess.run([WASM_OPT, *WASM_OPT_FLAGS, source, "-o", result], check=True)
    out = without_name_section(open(result, "rb").read())
    for old in glob.glob(os.path.join(cache, "*.wasm")):
        os.remove(old)  # one kept result is enough
    open(kept, "wb").write(out)
    os.remove(source)
    os.remove(result)
    return out


staging = os.environ.get("TRUNK_STAGING_DIR", "dist")
path = os.path.join(staging, "index.html")
page = open(path, encoding="utf-8").read()

for wasm_path in sorted(glob.glob(os.path.join(staging, "*.wasm"))):
    before = open(wasm_path, "rb").read()
    after = without_name_section(before)
    if os.path.basename(wasm_path) == "rlrp-worker_bg.wasm":
        after = optimised(after, os.path.basename(wasm_path))
    if after == before:
        continue
    open(wasm_path, "wb").write(after)
    name = re.escape(os.path.basename(wasm_path))
    page = re.sub(
        r'(<link[^>]*href="[^"]*%s"[^>]*integrity=")sha384-[^"]*(")' % name,
        lambda m: m.group(1) + sri(after) + m.group(2),
        page,
    )
    print(f"post_build.py: {os.path.basename(wasm_path)} {len(before)} -> {len(after)} bytes (name section dropped"
          + (", wasm-opt" if "worker" in wasm_path and os.environ.get("RLRP_NO_WASM_OPT") != "1" else "") + ")")

if "SCRIPT_HASHES" not in page:
    sys.exit(f"post_build.py: no SCRIPT_HASHES placeholder in {path}")
inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", page, flags=re.S)
hashes = " ".join(
    "'sha256-%s'" % base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode() for s in inline
)
open(path, "w", encoding="utf-8").write(page.replace("SCRIPT_HASHES", hashes))
print(f"post_build.py: {len(inline)} inline script(s) allowed by hash")


def precache_file(staging, url):
    """The staged file a precache URL stands for ("./" is index.html)."""
    return os.path.join(staging, "index.html" if url == "./" else url)


def precache_urls(staging):
    """The files the service worker downloads at install, as URLs relative to sw.js (which sits at
    the root of dist/, the worker's scope): "./" (index.html) first, then the rest sorted."""
    files = set()
    for pattern in ("**/*.js", "**/*.wasm", "**/*.css"):
        files.update(os.path.relpath(f, staging) for f in glob.glob(os.path.join(staging, pattern), recursive=True))
    files.discard("sw.js")
    if not any(f.endswith(".js") for f in files) or not any(f.endswith(".wasm") for f in files):
        sys.exit(f"post_build.py: no .js or no .wasm in {staging}: nothing to precache")
    bundle = json.load(open(os.path.join(staging, "bundle.json"), encoding="utf-8"))
    default = next((m for m in bundle["models"] if m["id"] == bundle["default"]), None)
    if default is None:
        sys.exit(f"post_build.py: bundle.json's default model {bundle['default']!r} is not among its models")
    files.add("bundle.json")
    files.update(default[k] for k in ("onnx", "sidecar", "labels") if default.get(k))
    files.update(default.get("samples", []))
    urls = ["./"] + sorted(f.replace(os.sep, "/") for f in files)
    for url in urls:
        if not os.path.isfile(precache_file(staging, url)):
            sys.exit(f"post_build.py: {url} (to precache) is not in the build")
    return urls


def write_precache(staging):
    """Fills sw.js's PRECACHE and VERSION placeholders (see the module's doc)."""
    sw_path = os.path.join(staging, "sw.js")
    sw = open(sw_path, encoding="utf-8").read()
    placeholders = ("const PRECACHE = /*PRECACHE*/[];", 'const VERSION = "/*VERSION*/";')
    for placeholder in placeholders:
        if sw.count(placeholder) != 1:
            sys.exit(f"post_build.py: {sw_path} must hold the line {placeholder!r} once")
    entries, version = [], hashlib.sha256()
    for url in precache_urls(staging):
        data = open(precache_file(staging, url), "rb").read()
        digest = hashlib.sha256(data)
        entries.append({"url": url, "integrity": "sha256-" + base64.b64encode(digest.digest()).decode()})
        version.update(f"{url} {digest.hexdigest()}\n".encode())
    version = version.hexdigest()[:16]
    # One entry a line, and valid JSON (the end-to-end test parses it).
    listing = "[\n" + ",\n".join(f"  {json.dumps(e)}" for e in entries) + "\n]"
    sw = sw.replace(placeholders[0], f"const PRECACHE = {listing};")
    sw = sw.replace(placeholders[1], f"const VERSION = {json.dumps(version)};")
    open(sw_path, "w", encoding="utf-8").write(sw)
    total = sum(os.path.getsize(precache_file(staging, e["url"])) for e in entries)
    print(f"post_build.py: sw.js precaches {len(entries)} files ({total} bytes), version {version}")


write_precache(staging)
