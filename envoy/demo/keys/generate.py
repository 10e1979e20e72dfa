#!/usr/bin/env python3
"""Generate the demo keys and their JWKS. TEST-ONLY: these keys are public.

    python3 envoy/demo/keys/generate.py            # new keys + jwks (overwrites!)
    python3 envoy/demo/keys/generate.py --jwks-only # recompute jwks*.json and *.pub.pem from the PEMs

Needs only python3 (stdlib) and the `openssl` command line tool. The JWK
components are read from the DER encoding of the public keys, so no crypto
library is needed: for EC and Ed25519 the public point is the tail of the
SubjectPublicKeyInfo; for RSA openssl prints the modulus.
"""
import argparse
import base64
import json
import os
import secrets
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# file, kid, alg, openssl genpkey arguments
KEYS = [
    ("rs256.pem", "demo-rs256", "RS256", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
    ("es256.pem", "demo-es256", "ES256", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
    ("ed25519.pem", "demo-ed25519", "EdDSA", ["-algorithm", "ED25519"]),
]
# Not in jwks.json: the rotation test adds it at run time (jwks-rotated.json).
ROTATED = ("es256-rotated.pem", "demo-es256-rotated", "ES256",
           ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def openssl(*args: str, stdin: bytes = b"") -> bytes:
    return subprocess.run(["openssl", *args], input=stdin, check=True, capture_output=True).stdout


def public_der(pem_path: str) -> bytes:
    return openssl("pkey", "-in", pem_path, "-pubout", "-outform", "DER")


def jwk(file: str, kid: str, alg: str) -> dict:
    path = os.path.join(HERE, file)
    if alg.startswith("RS") or alg.startswith("PS"):
        out = openssl("rsa", "-in", path, "-noout", "-modulus").decode().strip()
        n = bytes.fromhex(out.split("=", 1)[1])
        text = openssl("rsa", "-in", path, "-noout", "-text").decode()
        exp_line = next(line for line in text.splitlines() if line.startswith("publicExponent"))
        e_int = int(exp_line.split()[1])
        e = e_int.to_bytes((e_int.bit_length() + 7) // 8, "big")
        return {"kty": "RSA", "kid": kid, "alg": alg, "use": "sig", "n": b64url(n), "e": b64url(e)}
    der = public_der(path)
    if alg == "ES256":
        point = der[-65:]  # uncompressed point: 0x04 || x || y
        assert point[0] == 4, "expected an uncompressed P-256 point"
        return {"kty": "EC", "kid": kid, "alg": alg, "use": "sig", "crv": "P-256",
                "x": b64url(point[1:33]), "y": b64url(point[33:65])}
    if alg == "EdDSA":
        return {"kty": "OKP", "kid": kid, "alg": alg, "use": "sig", "crv": "Ed25519", "x": b64url(der[-32:])}
    raise ValueError(alg)


def write_public_pem(file: str) -> None:
    """`rs256.pem` -> `rs256.pub.pem` (SPKI), for configs that take PEM public keys."""
    pem = openssl("pkey", "-in", os.path.join(HERE, file), "-pubout")
    with open(os.path.join(HERE, file.replace(".pem", ".pub.pem")), "wb") as f:
        f.write(pem)


def write_json(name: str, value: dict) -> None:
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jwks-only", action="store_true", help="keep the PEMs, recompute the JWKS files")
    args = ap.parse_args()
    if not args.jwks_only:
        with open(os.path.join(HERE, "hs256.key"), "w") as f:
            f.write(secrets.token_hex(24))  # 48 printable chars = the raw HMAC secret, no newline
        for file, _kid, _alg, gen in KEYS + [ROTATED]:
            pem = openssl("genpkey", *gen)
            # genpkey writes PKCS#8 (`BEGIN PRIVATE KEY`).
            with open(os.path.join(HERE, file), "wb") as f:
                f.write(pem)
    for file, _kid, _alg, _gen in KEYS + [ROTATED]:
        write_public_pem(file)
    keys = [jwk(f, k, a) for f, k, a, _ in KEYS]
    write_json("jwks.json", {"keys": keys})
    write_json("jwks-rotated.json", {"keys": keys + [jwk(*ROTATED[:3])]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
