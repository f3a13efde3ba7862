"""The Moonlight side of crates/punktfunk-e2e/tests/gamestream_e2e.rs, on moonlight-python (the real
moonlight-common-c client's Python wrapper; scripts/moonlight-venv.sh installs it).

Run by the Rust test, never by hand. Prints progress lines (`PAIRING`) and one final
`RESULT <json>` line on stdout; the Rust test asserts on that JSON. Expected failures (a wrong PIN,
a 401) are results, not crashes: the script only exits non-zero when something unexpected broke.

    moonlight_client.py pair     --port P --client-dir D --pin NNNN [--expired-cert]
    moonlight_client.py apps     --port P --client-dir D
    moonlight_client.py unpaired --port P --client-dir D
    moonlight_client.py unpair   --port P --client-dir D
    moonlight_client.py meddle   --port P --client-dir D
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import ssl
import sys
import threading
import urllib.request
from pathlib import Path
from xml.etree import ElementTree

from moonlight_python import MoonlightClient
from moonlight_python.discovery import connect_to_server
from moonlight_python.exceptions import HttpResponseError, WrongPinError
from moonlight_python.http_client import NvHTTP
from moonlight_python.identity import Identity

HOST = "127.0.0.1"


def result(**fields) -> None:
    print("RESULT " + json.dumps(fields), flush=True)


def write_expired_identity(client_dir: Path) -> None:
    """A client identity whose certificate expired a year ago, laid out the way moonlight-python
    stores its own: embedded Moonlight clients with wrong clocks look exactly like this to a host."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "NVIDIA GameStream Client")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=3 * 365))
        .not_valid_after(now - datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    client_dir.mkdir(parents=True, exist_ok=True)
    (client_dir / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    (client_dir / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (client_dir / "unique_id").write_text("0123456789abcdef")


def fetch_asset(identity: Identity, https_port: int, app_id: int) -> dict:
    """GET /appasset with the client certificate and decode the picture with Pillow."""
    from PIL import Image

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    cert_path = Path(identity.config_dir) / "cert.pem"
    key_path = Path(identity.config_dir) / "key.pem"
    ctx.load_cert_chain(str(cert_path), str(key_path))
    url = f"https://{HOST}:{https_port}/appasset?uniqueid=0123456789ABCDEF&appid={app_id}&AssetType=2&AssetIdx=0"
    with urllib.request.urlopen(url, context=ctx, timeout=5) as response:
        body = response.read()
        content_type = response.headers.get("Content-Type", "")
    image = Image.open(io.BytesIO(body))
    image.load()  # decodes every scanline: a broken stream raises here
    return {"content_type": content_type, "format": image.format, "size": list(image.size)}


def status_of(xml: str) -> int:
    return int(ElementTree.fromstring(xml).get("status_code", "-1"))


def cmd_pair(args) -> None:
    client_dir = Path(args.client_dir)
    if args.expired_cert:
        write_expired_identity(client_dir)
    client = MoonlightClient(config_dir=client_dir)
    # Not client.connect(): on an unpaired host it would start pairing with a random PIN of its own.
    server = connect_to_server(HOST, Identity(client_dir), args.port)
    outcome: dict = {}

    def run() -> None:
        try:
            client.pair(server=server, pin=args.pin)
            outcome["paired"] = True
        except WrongPinError as e:
            outcome["error"] = "WrongPinError"
            outcome["message"] = str(e)
        except Exception as e:  # reported, and the Rust test fails on it with this text
            outcome["error"] = type(e).__name__
            outcome["message"] = str(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    print("PAIRING", flush=True)
    thread.join(timeout=120)
    if thread.is_alive():
        result(error="timeout", message="pair() did not return within 120 s")
        return
    if outcome.get("paired"):
        outcome["apps"] = [{"id": a.id, "name": a.name} for a in client.apps()]
    result(**outcome)


def cmd_apps(args) -> None:
    identity = Identity(Path(args.client_dir))
    server = connect_to_server(HOST, identity, args.port)
    http = NvHTTP(HOST, identity, http_port=args.port, https_port=server.https_port)
    info = http.parse_server_info(http.open_https("serverinfo"))
    try:
        apps = http.get_app_list()
    except HttpResponseError as e:
        result(error="HttpResponseError", status_code=e.status_code, message=e.status_message)
        return
    assets = {a.name: fetch_asset(identity, server.https_port, a.id) for a in apps}
    result(
        paired_status=info.paired,
        unique_id=info.unique_id,
        https_port=server.https_port,
        apps=[{"id": a.id, "name": a.name} for a in apps],
        assets=assets,
    )


def cmd_unpaired(args) -> None:
    identity = Identity(Path(args.client_dir))  # fresh: a self-signed certificate the host never saw
    server = connect_to_server(HOST, identity, args.port)
    http = NvHTTP(HOST, identity, http_port=args.port, https_port=server.https_port)
    applist = status_of(http.open_https("applist"))
    launch_args = (
        "appid=1&mode=1280x720x60&additionalStates=1&sops=0&rikey=" + "00" * 16
        + "&rikeyid=0&localAudioPlayMode=0&surroundAudioInfo=196610"
    )
    launch = status_of(http.open_https("launch", launch_args))
    https_info = http.parse_server_info(http.open_https("serverinfo"))
    result(applist=applist, launch=launch, paired_status=https_info.paired)


def cmd_meddle(args) -> None:
    """A second paired client tries to quit (`/cancel`) and take over (`/resume`) the stream another
    client launched; both must be refused with the stream left alone."""
    identity = Identity(Path(args.client_dir))
    server = connect_to_server(HOST, identity, args.port)
    http = NvHTTP(HOST, identity, http_port=args.port, https_port=server.https_port)
    resume_args = (
        "appid=1&mode=1280x720x60&additionalStates=1&sops=0&rikey=" + "11" * 16
        + "&rikeyid=0&localAudioPlayMode=0&surroundAudioInfo=196610&corever=1"
    )
    cancel = status_of(http.open_https("cancel"))
    resume = status_of(http.open_https("resume", resume_args))
    current = http.parse_server_info(http.open_https("serverinfo")).current_game
    result(cancel=cancel, resume=resume, current_game=current)


def cmd_unpair(args) -> None:
    """Unpair the way Moonlight does after a failed attempt (plain HTTP, which must not remove a paired
    client: `uniqueid` proves nothing), then over HTTPS with the client's own certificate (which must)."""
    identity = Identity(Path(args.client_dir))
    server = connect_to_server(HOST, identity, args.port)
    http = NvHTTP(HOST, identity, http_port=args.port, https_port=server.https_port)
    http_unpair = status_of(http.open_http("unpair"))
    applist_after_http = status_of(http.open_https("applist"))
    https_unpair = status_of(http.open_https("unpair"))
    applist_after_https = status_of(http.open_https("applist"))
    result(
        http_unpair=http_unpair,
        applist_after_http_unpair=applist_after_http,
        https_unpair=https_unpair,
        applist_after_https_unpair=applist_after_https,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["pair", "apps", "unpaired", "unpair", "meddle"])
    parser.add_argument("--port", type=int, required=True, help="the host's nvhttp (HTTP) port")
    parser.add_argument("--client-dir", required=True)
    parser.add_argument("--pin")
    parser.add_argument("--expired-cert", action="store_true")
    args = parser.parse_args()
    commands = {
        "pair": cmd_pair,
        "apps": cmd_apps,
        "unpaired": cmd_unpaired,
        "unpair": cmd_unpair,
        "meddle": cmd_meddle,
    }
    commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
