"""Reads a bucket with botocore, independently of s3v4, for spec/model.spec.ts.

For each bucket name read from stdin, one a line, lists every object
(ListObjectsV2, botocore's own url-encoding and paging), downloads each, and
prints one line on stdout: a JSON array in the listing's order,
[{"key", "size", "etag", "sha256", "length"}], where size is the listing's,
length the bytes the GET returned and sha256 their hash. Metadata is left
out: botocore returns header values as the server sent them, undecoded.

or {"error": message} when botocore failed. One process serves the whole
test: starting botocore takes seconds. The endpoint and keys come from the
environment: S3V4_AUDIT_ENDPOINT, S3V4_AUDIT_REGION, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY. Run it with /usr/bin/python3 (Debian's python3-botocore).
"""

import hashlib
import json
import os
import sys

import botocore.session
from botocore.config import Config


def audit(client, bucket):
    objects = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
            objects.append(
                {
                    "key": entry["Key"],
                    "size": entry["Size"],
                    "etag": entry["ETag"].strip('"'),
                    "sha256": hashlib.sha256(body).hexdigest(),
                    "length": len(body),
                }
            )
    return objects


def main():
    env = os.environ
    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=env["S3V4_AUDIT_ENDPOINT"],
        region_name=env["S3V4_AUDIT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    for line in sys.stdin:
        try:
            reply = audit(client, line.rstrip("\n"))
        except Exception as error:  # noqa: BLE001 -- any failure is reported to the test, which fails
            reply = {"error": repr(error)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


main()
