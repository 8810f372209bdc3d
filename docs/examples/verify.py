#!/usr/bin/env python3
"""Verify a certd certificate record with Python 3, PyJWT and cryptography
(Debian: apt-get install python3-jwt python3-cryptography): the signature
with the institution's published key, then the revocation bit in the
institution's signed status list.

    python3 verify.py https://certd.example.cn RECORD.jwt

Prints one word: valid, revoked (revoked, or superseded by a corrected
certificate), invalid (forged, altered, or not certd's) or unknown (the
status cannot be determined now); exits 0 only for valid. The reason goes to
stderr. See docs/verifying.md for what this does and does not check.
"""
import base64
import gzip
import json
import re
import sys
import time
import urllib.request
from datetime import datetime

import jwt  # PyJWT, with cryptography for EdDSA


def answer(word, why=""):
    print(word)
    if why:
        print(why, file=sys.stderr)
    sys.exit(0 if word == "valid" else 1)


def get_text(url):
    with urllib.request.urlopen(url, timeout=10) as res:  # noqa: S310 (http(s) only, below)
        return res.read().decode().strip()


base, path = sys.argv[1].rstrip("/"), sys.argv[2]  # certd's --public-url
if not base.startswith(("https://", "http://")):
    answer("unknown", "the base address must be http(s)")
now = time.time()

# 1. The keys: every institution key certd published, with the institution
# it belongs to and the window in which it could sign.
jwks = json.loads(get_text(base + "/.well-known/jwks.json"))


def verify_token(token):
    """A token counts only if its kid names a key of the institution the
    token itself names (never another institution's key), valid when it was
    signed."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})  # only to pick the key
    inst = re.sub(r"^urn:certd:institution:", "", str(claims.get("iss", "")))
    jwk = next((k for k in jwks["keys"] if k.get("kid") == header.get("kid")
                and k.get("certd_role") == "institution" and k.get("certd_institution") == inst), None)
    if jwk is None:
        raise ValueError(f"key {header.get('kid')} is not one of {inst}'s keys")
    at = claims.get("iat")
    if not isinstance(at, int) or at < jwk.get("certd_not_before", 0) or (jwk.get("certd_not_after") and at >= jwk["certd_not_after"]):
        raise ValueError(f"key {header.get('kid')} could not sign at {at}")
    if header.get("alg") != "EdDSA" or header.get("typ") != "vc+jwt":
        raise ValueError("not an EdDSA vc+jwt token")
    key = jwt.PyJWK({k: jwk[k] for k in ("kty", "crv", "x")}, algorithm="EdDSA").key
    payload = jwt.decode(token, key, algorithms=["EdDSA"], options={"verify_aud": False})
    return inst, payload


try:
    with open(path, encoding="utf-8") as f:
        inst, rec = verify_token(f.read().strip())
except (jwt.PyJWTError, ValueError, KeyError) as e:
    answer("invalid", f"record: {e}")

# 3. Where the certificate's revocation bit is: its own institution's list.
entry = rec.get("credentialStatus")
if not entry:
    answer("unknown", "the record has no credentialStatus (issued before status lists): check online")
list_url = base + "/status/" + inst
if (entry.get("type") != "BitstringStatusListEntry" or entry.get("statusPurpose") != "revocation"
        or entry.get("statusListCredential") != list_url
        or not re.fullmatch(r"0|[1-9][0-9]*", str(entry.get("statusListIndex", "")))):
    answer("invalid", f"the record's status entry does not point into {list_url}")

# 4. The list: signed by the same institution, for that address.
try:
    list_inst, lst = verify_token(get_text(list_url))
except (jwt.PyJWTError, ValueError, KeyError, OSError) as e:
    answer("unknown", f"status list: {e}")
subject = lst.get("credentialSubject", {})
if list_inst != inst or lst.get("id") != list_url or subject.get("statusPurpose") != "revocation":
    answer("unknown", "the status list is not this institution's revocation list")

# 5. The bit: "u" + base64url of the GZIP-compressed bits; index 0 is the
# most significant bit of the first byte.
try:
    enc = subject["encodedList"]
    if not enc.startswith("u"):
        raise ValueError("not multibase base64url")
    bits = gzip.decompress(base64.urlsafe_b64decode(enc[1:] + "=" * (-len(enc[1:]) % 4)))
except (KeyError, ValueError, OSError, EOFError) as e:
    answer("unknown", f"status list encoding: {e}")
index = int(entry["statusListIndex"])
if index >= len(bits) * 8:
    answer("invalid", f"index {index} is outside the list")
if (bits[index >> 3] >> (7 - (index & 7))) & 1:
    answer("revoked", f"bit {index} is set")

# 6. A clear bit means "not revoked" only while the list is fresh, and only
# for a record signed (a full second) before the list was made.
valid_from = datetime.fromisoformat(lst["validFrom"].replace("Z", "+00:00")).timestamp()
if not now < valid_from + subject["ttl"] / 1000:
    answer("unknown", f"status as of {lst['validFrom']}; the list is past its ttl")
if valid_from < rec["iat"] + 1:
    answer("unknown", f"the status list ({lst['validFrom']}) is older than the record")
answer("valid", f"status as of {lst['validFrom']}")
