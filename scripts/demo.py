#!/usr/bin/env python3
"""The whole product path on one machine (README: `make demo`).

Starts moto server as SNS and SQS on 127.0.0.1, creates the findings topic with three
subscribers (an SQS queue for machines, an https endpoint standing in for AWS Chatbot, an
email address), runs the Lambda under `cargo lambda watch` with TOPIC_ARN and
AWS_ENDPOINT_URL, invokes it with every event in events/, and prints what the subscribers
received: the email and the Chatbot notification for the out-of-memory and AccessDenied
events, and the finding JSON of the queue.

moto delivers to SQS and to https endpoints but sends no email, so the email shown is the
`email` rendering of the message SNS received, with its Subject: what an email subscriber
gets. Everything runs on 127.0.0.1 with dummy credentials; nothing reaches AWS.

Run through scripts/demo.sh, which installs the pinned tools first.
"""

import datetime
import http.server
import ipaddress
import json
import os
import ssl
import subprocess
import tempfile
import threading
import urllib.request
from pathlib import Path

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from localhost import free_port, wait_port

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
REGION = "us-east-1"
# Shown in full; in this order first, so flood control does not hold them back.
SHOWN = ["events/oom-report.json", "events/secret-access-denied.json"]


def self_signed_cert(directory):
    """A certificate for 127.0.0.1, so moto can deliver to an https subscriber."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def https_subscriber(port, cert_path, key_path):
    """An https endpoint that keeps every notification POSTed to it (the Chatbot stand-in)."""
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def heading(text):
    print(f"\n{'=' * 100}\n{text}\n{'=' * 100}")


def main():
    work = Path(tempfile.mkdtemp(prefix="troubleshooter-demo-"))
    procs = []
    moto_port, hook_port, invoke_port = free_port(), free_port(), free_port()
    endpoint = f"http://127.0.0.1:{moto_port}"
    aws_env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }
    try:
        cert, key = self_signed_cert(work)
        hook, chatbot_received = https_subscriber(hook_port, cert, key)

        moto_log = work / "moto.log"
        # moto posts to https subscribers with requests: trust the demo's certificate.
        moto = subprocess.Popen(
            [BIN / "moto_server", "-H", "127.0.0.1", "-p", str(moto_port)],
            stdout=moto_log.open("w"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "REQUESTS_CA_BUNDLE": str(cert)},
        )
        procs.append(moto)
        wait_port(moto_port, "moto_server", moto, moto_log)

        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
        sns = session.client("sns", endpoint_url=endpoint)
        sqs = session.client("sqs", endpoint_url=endpoint)
        topic = sns.create_topic(Name="lambda-troubleshooter-findings")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="findings-json")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        chatbot_url = f"https://127.0.0.1:{hook_port}/chatbot"
        sns.subscribe(TopicArn=topic, Protocol="https", Endpoint=chatbot_url)
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@example.com")

        print(f"moto (SNS, SQS):   {endpoint}")
        print(f"topic:             {topic}")
        print("subscribers:       SQS queue findings-json (machines: the finding JSON)")
        print(f"                   {chatbot_url} (stands in for AWS Chatbot: the custom notification)")
        print("                   email oncall@example.com (moto sends no mail; shown from what SNS received)")

        watch_log = work / "cargo-lambda-watch.log"
        env = {k: v for k, v in os.environ.items() if k not in ("TOPIC_ARN", "AWS_PROFILE", "SUPPRESS_SECONDS")}
        env.update(aws_env, TOPIC_ARN=topic, PATH=f"{BIN}:{os.environ.get('PATH', '')}")
        watch = subprocess.Popen(
            [BIN / "cargo-lambda", "lambda", "watch", "--ignore-changes", "-A", "127.0.0.1", "-P", str(invoke_port)],
            cwd=ROOT,
            stdout=watch_log.open("w"),
            stderr=subprocess.STDOUT,
            env=env,
        )
        procs.append(watch)
        wait_port(invoke_port, "cargo lambda watch", watch, watch_log)
        print(f"Lambda:            cargo lambda watch on 127.0.0.1:{invoke_port} (log: {watch_log})")
        print("                   the first invoke builds the function; a cold build takes a few minutes")

        events = SHOWN + sorted(str(p.relative_to(ROOT)) for p in (ROOT / "events").glob("*.json") if str(p.relative_to(ROOT)) not in SHOWN)
        heading("cargo lambda invoke --data-file EVENT, for every event (delivery: what flood control decided)")
        shown_ids = {}
        for event in events:
            result = subprocess.run(
                [BIN / "cargo-lambda", "lambda", "invoke", "lambda-troubleshooter", "-A", "127.0.0.1",
                 "-P", str(invoke_port), "--data-file", event],
                cwd=ROOT, capture_output=True, text=True, env=env,
            )
            if result.returncode != 0:
                # cargo-lambda's report: "Error: <error type>", the message, then a footer.
                kept = []
                for line in (line.strip(" │×") for line in result.stderr.splitlines()):
                    if line.startswith("Was this behavior unexpected"):
                        break
                    if line:
                        kept.append(line.removeprefix("Error: "))
                print(f"{event:42} invocation failed: {' '.join(kept)}")
                continue
            response = json.loads(result.stdout)
            if "batchItemFailures" in response:
                print(f"{event:42} (Kinesis) findings published; batch item failures: {response['batchItemFailures']}")
                continue
            findings = response.get("findings", [])
            if event in SHOWN:
                shown_ids[event] = [f["id"] for f in findings if f["delivery"] == "published"]
            text = ", ".join(f"{f['rule_id']} ({f['delivery']})" for f in findings) or "no findings"
            skipped = [b["skipped"] for b in response.get("batches", []) if b.get("skipped")]
            print(f"{event:42} {text}{' (skipped: ' + skipped[0] + ')' if skipped else ''}")

        # What SNS received (the MessageStructure=json message with every rendering).
        with urllib.request.urlopen(f"{endpoint}/moto-api/data.json") as answer:
            data = json.loads(answer.read())
        notifications = next(t for t in data["sns"]["Topic"] if t["arn"] == topic)["sent_notifications"]
        by_id = {}
        for _, message, subject, _, _ in notifications:
            structure = json.loads(message)
            by_id[json.loads(structure["default"])["id"]] = (subject, structure)
        chatbot_by_id = {}
        for notification in chatbot_received:
            if notification.get("Type") == "Notification":
                body = json.loads(notification["Message"])
                chatbot_by_id[body["id"]] = body

        for event in SHOWN:
            for finding_id in shown_ids.get(event, []):
                subject, structure = by_id[finding_id]
                heading(f"Email to oncall@example.com for {event}")
                print(f"Subject: {subject}\n")
                print(structure["email"])
                heading(f"AWS Chatbot notification (delivered to the https subscriber) for {event}")
                print(json.dumps(chatbot_by_id[finding_id], indent=2, ensure_ascii=False))

        messages = []
        while True:
            batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                break
            for m in batch:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            messages.extend(json.loads(m["Body"]) for m in batch)
        heading(f"SQS queue findings-json: {len(messages)} messages (SNS envelope: Subject, MessageAttributes, Message)")
        for m in messages:
            attributes = {k: v["Value"] for k, v in m.get("MessageAttributes", {}).items()}
            print(f"{m.get('Subject', ''):70} severity={attributes.get('severity')} rule_id={attributes.get('rule_id')}")
        if messages:
            print("\nThe first message's Message, the finding JSON (schema lambda-troubleshooter/finding/v1):")
            print(json.dumps(json.loads(messages[0]["Message"]), indent=2, ensure_ascii=False))
        hook.shutdown()
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
