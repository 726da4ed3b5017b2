#!/usr/bin/env python3
"""trunk post_build hook (Trunk.toml), on the staging copy of dist/:
1. drop the `name` custom section (function names, for debuggers only) from every .wasm: rustc keeps
   it on wasm32 whatever the profile's `strip` says, and it is about a tenth of the download;
   then refresh the sha384 `integrity` of those files in index.html;
2. put the sha256 of every inline <script> of index.html into the page's Content-Security-Policy
   (in place of SCRIPT_HASHES), so that no 'unsafe-inline' is needed."""
import base64
import glob
import hashlib
import os
import re
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


staging = os.environ.get("TRUNK_STAGING_DIR", "dist")
path = os.path.join(staging, "index.html")
page = open(path, encoding="utf-8").read()

for wasm_path in sorted(glob.glob(os.path.join(staging, "*.wasm"))):
    before = open(wasm_path, "rb").read()
    after = without_name_section(before)
    if after == before:
        continue
    open(wasm_path, "wb").write(after)
    name = re.escape(os.path.basename(wasm_path))
    page = re.sub(
        r'(<link[^>]*href="[^"]*%s"[^>]*integrity=")sha384-[^"]*(")' % name,
        lambda m: m.group(1) + sri(after) + m.group(2),
        page,
    )
    print(f"post_build.py: {os.path.basename(wasm_path)} {len(before)} -> {len(after)} bytes (name section dropped)")

if "SCRIPT_HASHES" not in page:
    sys.exit(f"post_build.py: no SCRIPT_HASHES placeholder in {path}")
inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", page, flags=re.S)
hashes = " ".join(
    "'sha256-%s'" % base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode() for s in inline
)
open(path, "w", encoding="utf-8").write(page.replace("SCRIPT_HASHES", hashes))
print(f"post_build.py: {len(inline)} inline script(s) allowed by hash")
