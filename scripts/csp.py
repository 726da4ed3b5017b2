#!/usr/bin/env python3
"""trunk post_build hook: put the sha256 of every inline <script> of index.html into the page's
Content-Security-Policy (in place of SCRIPT_HASHES), so that no 'unsafe-inline' is needed."""
import base64
import hashlib
import os
import re
import sys

staging = os.environ.get("TRUNK_STAGING_DIR", "dist")
path = os.path.join(staging, "index.html")
page = open(path, encoding="utf-8").read()
if "SCRIPT_HASHES" not in page:
    sys.exit(f"csp.py: no SCRIPT_HASHES placeholder in {path}")
inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", page, flags=re.S)
hashes = " ".join(
    "'sha256-%s'" % base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode() for s in inline
)
open(path, "w", encoding="utf-8").write(page.replace("SCRIPT_HASHES", hashes))
print(f"csp.py: {len(inline)} inline script(s) allowed by hash")
