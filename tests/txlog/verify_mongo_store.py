#!/usr/bin/env python3
"""Independent check of the transaction log's MongoDB store, read with PyMongo.

Reads every document of the records collection straight from the database (no ordersys code,
no ordersys API) in `_id` order and re-verifies the hash chain of SPEC section 8:

    hash = sha256( prev_hash (hex text) + RFC 8785 canonical JSON of the record without "hash" )

and that each document is consistent with the canonical text it stores: `_id` is the record's
`seq` (0, 1, 2, ... without gaps), the text is in RFC 8785 form, and the query fields
(event_id, transaction_id, order_id, actor, operation, outcome, recorded_at) say what the
text says.

Usage: verify_mongo_store.py MONGODB_URL [DATABASE] [COLLECTION]
Exit 0 printing "valid N records", or exit 1 naming the first bad seq.
Needs the PyPI packages pymongo and rfc8785, and verify_chain.py beside it.
"""

import datetime
import hashlib
import json
import sys

import pymongo
import rfc8785

from verify_chain import GENESIS, parse_int, report


def millis(value):
    """A BSON date (naive UTC datetime from PyMongo) or an RFC 3339 text, as epoch milliseconds."""
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return round(value.timestamp() * 1000)


def mismatch(document, record):
    """The first query field that disagrees with the canonical text, or None."""
    actor = record.get("actor")
    expected = {
        "event_id": record.get("event_id"),
        "transaction_id": record.get("transaction_id"),
        "order_id": record.get("order_id"),
        "actor": actor.get("sub") if isinstance(actor, dict) else None,
        "operation": record.get("operation"),
        "outcome": record.get("outcome"),
    }
    for field, value in expected.items():
        if document.get(field) != value:
            return field
    if millis(document.get("recorded_at")) != millis(record.get("recorded_at")):
        return "recorded_at"
    return None


def verify(documents):
    """Returns (count, None) for a valid store, or (count so far, (seq, reason)) at the first bad record."""
    prev_hash, expected_seq, count = GENESIS, 0, 0
    for document in documents:
        seq = document.get("_id")
        if seq != expected_seq:
            return count, (expected_seq, f"expected _id {expected_seq}, found {seq}")
        canonical = document.get("canonical", "")
        record = json.loads(canonical, parse_int=parse_int)
        if rfc8785.dumps(record).decode() != canonical:
            return count, (seq, "the stored text is not RFC 8785 canonical JSON")
        if record.get("seq") != seq:
            return count, (seq, f"the text says seq {record.get('seq')}")
        if record.get("prev_hash") != prev_hash:
            return count, (seq, "prev_hash does not match the previous record's hash")
        digest = hashlib.sha256(prev_hash.encode() + canonical.encode()).hexdigest()
        if digest != document.get("hash"):
            return count, (seq, "hash does not match the record")
        field = mismatch(document, record)
        if field:
            return count, (seq, f"the document's {field} differs from the record's")
        prev_hash, expected_seq, count = digest, seq + 1, count + 1
    return count, None


def main(argv):
    if len(argv) not in (2, 3, 4):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    client = pymongo.MongoClient(argv[1], serverSelectionTimeoutMS=10_000)
    database = argv[2] if len(argv) > 2 else client.get_default_database("txlog").name
    collection = argv[3] if len(argv) > 3 else "txlog_records"
    documents = client[database][collection].find({}, sort=[("_id", pymongo.ASCENDING)])
    return report(*verify(documents))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
