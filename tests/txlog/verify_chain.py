#!/usr/bin/env python3
"""Independent verifier of the ordersys transaction log's hash chain.

Pages through GET /v1/transactions?order=asc and recomputes every record's hash the way
SPEC section 8 defines it, without any ordersys code:

    hash = sha256( prev_hash (hex text) + RFC 8785 canonical JSON of the record without "hash" )

with the first prev_hash being 64 zeros, seq counting 0, 1, 2, ... without gaps.

Usage: verify_chain.py BASE_URL TOKEN
Exit 0 printing "valid N records", or exit 1 naming the first bad seq.
Needs the PyPI package rfc8785 (pip install rfc8785).
"""

import hashlib
import json
import sys
import urllib.parse
import urllib.request

import rfc8785

GENESIS = "0" * 64
PAGE = 500
MAX_SAFE_INTEGER = 2**53 - 1


def parse_int(text):
    # JSON numbers are IEEE doubles in RFC 8785: integers beyond 2^53 were canonicalized as doubles.
    value = int(text)
    return value if abs(value) <= MAX_SAFE_INTEGER else float(value)


def pages(base_url, token):
    cursor = None
    while True:
        query = {"order": "asc", "limit": str(PAGE)}
        if cursor:
            query["cursor"] = cursor
        url = f"{base_url.rstrip('/')}/v1/transactions?{urllib.parse.urlencode(query)}"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            page = json.loads(response.read(), parse_int=parse_int)
        yield from page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return


def verify(records):
    """Returns (count, None) for a valid chain, or (count so far, (seq, reason)) at the first bad record."""
    prev_hash, expected_seq, count = GENESIS, 0, 0
    for record in records:
        seq = record.get("seq")
        if seq != expected_seq:
            return count, (expected_seq, f"expected seq {expected_seq}, found {seq}")
        if record.get("prev_hash") != prev_hash:
            return count, (seq, "prev_hash does not match the previous record's hash")
        body = {key: value for key, value in record.items() if key != "hash"}
        digest = hashlib.sha256(prev_hash.encode() + rfc8785.dumps(body)).hexdigest()
        if digest != record.get("hash"):
            return count, (seq, "hash does not match the record")
        prev_hash, expected_seq, count = digest, seq + 1, count + 1
    return count, None


def report(count, bad):
    """Prints the verdict of `verify` and returns the exit code."""
    if bad is not None:
        seq, reason = bad
        print(f"invalid at seq {seq}: {reason} ({count} records valid before it)")
        return 1
    print(f"valid {count} records")
    return 0


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    return report(*verify(pages(argv[1], argv[2])))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
