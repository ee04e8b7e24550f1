"""Which credential source botocore picks, for spec/precedence.spec.ts.

One JSON case per line on stdin: {"env": {...}, "sts": "http://127.0.0.1:PORT"}.
One JSON answer per line on stdout: {"method": ..., "accessKey": ...}, or
{"error": "ExceptionName"}. botocore 1.29 ignores AWS_ENDPOINT_URL_STS, so STS
calls are sent to "sts" with a before-sign hook (../shared/notes/ceph-sts.md,
section 5). Run with Debian's /usr/bin/python3 and python3-botocore.
"""
import json
import os
import sys
from urllib.parse import urlsplit

import botocore.session

for line in sys.stdin:
    case = json.loads(line)
    os.environ.clear()
    os.environ.update(case["env"])
    try:
        session = botocore.session.Session()
        sts = case.get("sts")
        if sts:
            target = urlsplit(sts)

            def redirect(request, target=target, **kwargs):
                parts = urlsplit(request.url)
                request.url = parts._replace(scheme=target.scheme, netloc=target.netloc).geturl()

            session.register("before-sign.sts", redirect)
        credentials = session.get_credentials()
        if credentials is None:
            answer = {"method": None}
        else:
            frozen = credentials.get_frozen_credentials()
            answer = {"method": credentials.method, "accessKey": frozen.access_key}
    except Exception as error:  # the kind of failure is the answer
        answer = {"error": type(error).__name__}
    print(json.dumps(answer), flush=True)
