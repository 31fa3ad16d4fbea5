"""Regenerate the sample events in this folder (shaped exactly as AWS sends them).

The API events carry a small real photo (rembg's car-1 fixture, reduced) as a base64 body.
Run: .venv/bin/python events/build_events.py [path/to/car-1.jpg]
"""

from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
DEFAULT_PHOTO = HERE.parent.parent / "shared" / "fixtures" / "rembg" / "car-1.jpg"
BUCKET = "cutout-media-example"
REGION = "us-east-1"
ACCOUNT = "123456789012"


def small_jpeg(photo: Path) -> bytes:
    image = Image.open(photo).convert("RGB")
    image.thumbnail((160, 160))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def api_v1(body: bytes) -> dict[str, object]:
    headers = {
        "Accept": "image/png",
        "Content-Type": "image/jpeg",
        "Host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
        "User-Agent": "curl/8.5.0",
        "X-Amzn-Trace-Id": "Root=1-6745a1b2-0123456789abcdef01234567",
        "X-Forwarded-For": "203.0.113.10",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        "x-api-key": "EXAMPLEKEYabcdefghijklmnopqrstuvwxyz0123",
        "Content-Length": str(len(body)),
    }
    query = {"format": "png"}
    return {
        "resource": "/v1/remove",
        "path": "/v1/remove",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()},
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "a1b2c3",
            "resourcePath": "/v1/remove",
            "httpMethod": "POST",
            "extendedRequestId": "CxQ1bFhdoAMEbGw=",
            "requestTime": "26/Nov/2026:09:00:00 +0000",
            "path": "/Prod/v1/remove",
            "accountId": ACCOUNT,
            "protocol": "HTTP/1.1",
            "stage": "Prod",
            "domainPrefix": "abcdef1234",
            "requestTimeEpoch": 1795683600000,
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": "203.0.113.10",
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": "curl/8.5.0",
                "user": None,
                "apiKey": "EXAMPLEKEYabcdefghijklmnopqrstuvwxyz0123",
                "apiKeyId": "k1a2b3c4d5",
            },
            "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "apiId": "abcdef1234",
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def api_v2(body: bytes) -> dict[str, object]:
    return {
        "version": "2.0",
        "routeKey": "POST /v1/remove",
        "rawPath": "/v1/remove",
        "rawQueryString": "format=png",
        "headers": {
            "accept": "image/png",
            "content-length": str(len(body)),
            "content-type": "image/jpeg",
            "host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "user-agent": "curl/8.5.0",
            "x-amzn-trace-id": "Root=1-6745a1b2-0123456789abcdef01234567",
            "x-forwarded-for": "203.0.113.10",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "queryStringParameters": {"format": "png"},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "abcdef1234",
            "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcdef1234",
            "http": {
                "method": "POST",
                "path": "/v1/remove",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "POST /v1/remove",
            "stage": "$default",
            "time": "26/Nov/2026:09:00:00 +0000",
            "timeEpoch": 1795683600000,
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def s3_put(key: str = "uploads/red+shoe.jpg", size: int = 4242) -> dict[str, object]:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": "2026-11-26T09:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AIDAEXAMPLEPRINCIPAL"},
                "requestParameters": {"sourceIPAddress": "203.0.113.10"},
                "responseElements": {
                    "x-amz-request-id": "C3D13FE58DE4C810",
                    "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "cutout-uploads",
                    "bucket": {
                        "name": BUCKET,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": f"arn:aws:s3:::{BUCKET}",
                    },
                    "object": {
                        "key": key,
                        "size": size,
                        "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                        "sequencer": "0A1B2C3D4E5F678901",
                    },
                },
            }
        ]
    }


def sqs_wrapped(s3_event: dict[str, object]) -> dict[str, object]:
    return {
        "Records": [
            {
                "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
                "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
                "body": json.dumps(s3_event),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1795683600000",
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": "1795683600005",
                },
                "messageAttributes": {},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:cutout-uploads",
                "awsRegion": REGION,
            }
        ]
    }


def main() -> None:
    photo = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PHOTO
    body = small_jpeg(photo)
    events = {
        "api-v1.json": api_v1(body),
        "api-v2.json": api_v2(body),
        "s3-put.json": s3_put(),
        "sqs-s3.json": sqs_wrapped(s3_put()),
    }
    for name, event in events.items():
        (HERE / name).write_text(json.dumps(event, indent=2) + "\n")
        print(f"wrote {name}")


if __name__ == "__main__":
    main()
