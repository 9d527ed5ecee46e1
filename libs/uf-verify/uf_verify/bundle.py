"""The checks. A bundle (format `uf-evidence/1`, written by `ufctl audit export`):

    MANIFEST.json       {"files": {path: sha256}, "format", "workflow_id"}
    records.jsonl       one record per line as stored in Kafka (topic, partition, offset,
                        timestamp, key, value, headers; bytes in base64) + its inclusion proof
                        {checkpoint_seq, leaf_index, tree_size, audit_path} in that checkpoint
    checkpoints.jsonl   signed checkpoints of every partition concerned, contiguous up to the head
    consistency.jsonl   a consistency proof between each pair of consecutive whole-tree checkpoints
    keys/<key_id>.pub   public keys (hex), self-certifying ids: <service>-<sha256(key)[:16]>
    schemas/<fp>.avsc   Avro schemas in Parsing Canonical Form, named by CRC-64-AVRO fingerprint
    cosignatures.jsonl  (optional) a witness's cosignatures of bundled checkpoints
    policies/<v>.yaml   policy versions that made the decisions, bound by the sha256 recorded in
                        the decisions (ValidationDecided v2) or in PolicyActivated records

Review decisions carry signed review attestations (who, which decision, when, under which
policy, the exact content reviewed), checked by uf_verify.attestations against the records in the
bundle, as are the delivery requests and confirmations against the approval.

Every byte must be accounted for: each file is listed with its hash, every JSON file must be in
its canonical serialisation (so no whitespace or field can be added unnoticed), every record is
proven against a checkpoint signed by an audit key, every key, schema and policy file is used.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from uf_verify import avro
from uf_verify.attestations import check_reviews
from uf_verify.hashes import (
    checkpoint_signed_bytes,
    consistent,
    content_hash,
    leaf_hash,
    record_signed_bytes,
    root_from_path,
)

FORMAT = "uf-evidence/1"
SIG_HEADER, KEY_HEADER = "uf.sig", "uf.sig.key"
RECORD_KEYS = {"topic", "partition", "offset", "timestamp", "key", "value", "headers", "proof"}
PROOF_KEYS = {"checkpoint_seq", "leaf_index", "tree_size", "audit_path"}
CHECKPOINT_KEYS = {"topic", "partition", "seq", "first_offset", "last_offset", "record_count", "merkle_root", "chain_head",
                   "prev_chain_head", "prev_checkpoint_hash", "manifest_sha256", "created_at", "key_id", "signature",
                   "tree_size", "tree_root"}
CONSISTENCY_KEYS = {"topic", "partition", "from_seq", "to_seq", "proof"}
COSIGNATURE_KEYS = {"topic", "partition", "seq", "key_id", "cosignature"}
COSIGN_DOMAIN = b"uf.witness.cosign.v1\x00"
WORKFLOW_TOPICS = {"uf.workflow.requests", "uf.workflow.events", "uf.validation.decisions", "uf.review.decisions",
                   "uf.delivery.outcomes", "uf.delivery.requests", "uf.agent.tasks", "uf.agent.results"}


def canonical_line(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def canonical_manifest(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, indent=1) + "\n"


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def fail(self, msg: str) -> None:
        self.problems.append(msg)


class _Stop(Exception):
    """Nothing further can be checked meaningfully."""


def _b64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text, validate=True)


def _jsonl(path: Path, rep: Report, allowed: set[str]) -> list[dict[str, Any]]:
    out = []
    for n, line in enumerate(path.read_text().split("\n")[:-1] if path.read_text() else [], 1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            rep.fail(f"{path.name}:{n}: not JSON")
            continue
        if not isinstance(obj, dict) or set(obj) != allowed:
            rep.fail(f"{path.name}:{n}: unexpected or missing fields")
            continue
        if canonical_line(obj) != line:
            rep.fail(f"{path.name}:{n}: not in canonical form (bytes altered or added)")
        out.append(obj)
    if path.read_text() and not path.read_text().endswith("\n"):
        rep.fail(f"{path.name}: missing final newline")
    return out


def _manifest(root: Path, rep: Report) -> dict[str, Any]:
    try:
        text = (root / "MANIFEST.json").read_text()
        manifest = json.loads(text)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        raise _Stop("MANIFEST.json missing or unreadable") from None
    if not isinstance(manifest, dict) or set(manifest) != {"files", "format", "workflow_id"} or manifest["format"] != FORMAT:
        raise _Stop(f"MANIFEST.json is not a {FORMAT} manifest")
    if canonical_manifest(manifest) != text:
        rep.fail("MANIFEST.json: not in canonical form (bytes altered or added)")
    present = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} - {"MANIFEST.json"}
    listed = set(manifest["files"])
    for extra in sorted(present - listed):
        rep.fail(f"{extra}: file added (not in the manifest)")
    for missing in sorted(listed - present):
        rep.fail(f"{missing}: file missing")
    for name in sorted(listed & present):
        if hashlib.sha256((root / name).read_bytes()).hexdigest() != manifest["files"][name]:
            rep.fail(f"{name}: altered (hash differs from the manifest)")
    for name in sorted(listed):
        kind = name.split("/", 1)[0] if "/" in name else name
        if kind not in ("records.jsonl", "checkpoints.jsonl", "consistency.jsonl", "cosignatures.jsonl", "keys", "schemas",
                        "policies"):
            rep.fail(f"{name}: not a file a bundle may hold")
    return manifest


def _keys(root: Path, rep: Report) -> dict[str, Ed25519PublicKey]:
    keys: dict[str, Ed25519PublicKey] = {}
    for p in sorted((root / "keys").glob("*.pub")) if (root / "keys").exists() else []:
        key_id = p.name[:-4]
        text = p.read_text()
        try:
            raw = bytes.fromhex(text.strip())
        except ValueError:
            raw = b""
        if len(raw) != 32 or text != raw.hex() + "\n":
            rep.fail(f"keys/{p.name}: not a canonical hex Ed25519 public key")
            continue
        service = key_id.rsplit("-", 1)[0]
        if key_id != f"{service}-{hashlib.sha256(raw).hexdigest()[:16]}":
            rep.fail(f"keys/{p.name}: key id does not match the key (ids pin the key's hash)")
            continue
        keys[key_id] = Ed25519PublicKey.from_public_bytes(raw)
    return keys


def _verify_sig(keys: dict[str, Ed25519PublicKey], key_id: str, sig: bytes, data: bytes) -> bool:
    pub = keys.get(key_id)
    if pub is None:
        return False
    try:
        pub.verify(sig, data)
        return True
    except InvalidSignature:
        return False


def _checkpoints(objs: list[dict[str, Any]], keys: dict[str, Ed25519PublicKey], trusted: set[str], rep: Report,
                 used_keys: set[str]) -> dict[tuple[str, int], dict[int, dict[str, Any]]]:
    by_tp: dict[tuple[str, int], dict[int, dict[str, Any]]] = {}
    for c in objs:
        where = f"checkpoint {c['topic']}[{c['partition']}] seq {c['seq']}"
        try:
            signed = checkpoint_signed_bytes(c)
            sig = bytes.fromhex(c["signature"])
        except (KeyError, TypeError, ValueError, binascii.Error):
            rep.fail(f"{where}: malformed")
            continue
        if not c["key_id"].startswith("audit-"):
            rep.fail(f"{where}: signed by {c['key_id']}, not an audit key")
        elif trusted and c["key_id"] not in trusted:
            rep.fail(f"{where}: signed by {c['key_id']}, not a pinned key (--trust)")
        if not _verify_sig(keys, c["key_id"], sig, signed):
            rep.fail(f"{where}: signature invalid or key not in the bundle")
            continue
        used_keys.add(c["key_id"])
        c["_hash"] = hashlib.sha256(signed).digest()
        if c["seq"] in by_tp.setdefault((c["topic"], c["partition"]), {}):
            rep.fail(f"{where}: duplicated")
        by_tp[(c["topic"], c["partition"])][c["seq"]] = c
    for (topic, partition), cps in sorted(by_tp.items()):
        seqs = sorted(cps)
        if seqs != list(range(seqs[0], seqs[-1] + 1)):
            rep.fail(f"checkpoints {topic}[{partition}]: sequence has gaps")
        for s in seqs[1:]:
            prev, cp = cps.get(s - 1), cps[s]
            if prev is not None and bytes.fromhex(cp["prev_checkpoint_hash"]) != prev["_hash"]:
                rep.fail(f"checkpoint {topic}[{partition}] seq {s}: does not link to seq {s - 1}")
            if prev is not None and cp["prev_chain_head"] != prev["chain_head"]:
                rep.fail(f"checkpoint {topic}[{partition}] seq {s}: hash chain does not continue from seq {s - 1}")
    return by_tp


def _consistency(objs: list[dict[str, Any]], by_tp: dict[tuple[str, int], dict[int, dict[str, Any]]], rep: Report) -> int:
    """Each consecutive pair of whole-tree checkpoints must come with a valid proof."""
    given = {(o["topic"], o["partition"], o["from_seq"], o["to_seq"]): o for o in objs}
    checked = 0
    for (topic, partition), cps in sorted(by_tp.items()):
        trees = [cps[s] for s in sorted(cps) if cps[s].get("tree_size")]
        for a, b in zip(trees, trees[1:]):
            o = given.pop((topic, partition, a["seq"], b["seq"]), None)
            if o is None:
                rep.fail(f"consistency {topic}[{partition}] seq {a['seq']} -> {b['seq']}: proof missing")
                continue
            try:
                proof = [bytes.fromhex(h) for h in o["proof"]]
                ok = consistent(a["tree_size"], b["tree_size"], bytes.fromhex(a["tree_root"]), bytes.fromhex(b["tree_root"]), proof)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                rep.fail(f"consistency {topic}[{partition}] seq {a['seq']} -> {b['seq']}: proof fails (history rewritten?)")
            checked += 1
    for topic, partition, f, t in sorted(given):
        rep.fail(f"consistency {topic}[{partition}] seq {f} -> {t}: proof for no pair of consecutive checkpoints")
    return checked


def _cosignatures(objs: list[dict[str, Any]], by_tp: dict[tuple[str, int], dict[int, dict[str, Any]]],
                  keys: dict[str, Ed25519PublicKey], rep: Report, used_keys: set[str]) -> dict[str, int]:
    """A witness's cosignature: its key over the checkpoint's hash (it verified the checkpoint
    extends everything it cosigned before). Returns cosigned checkpoints per witness key."""
    counts: dict[str, int] = {}
    for o in objs:
        where = f"cosignature {o['topic']}[{o['partition']}] seq {o['seq']} by {o['key_id']}"
        cp = by_tp.get((o["topic"], o["partition"]), {}).get(o["seq"])
        if cp is None:
            rep.fail(f"{where}: for a checkpoint not in the bundle")
            continue
        if not str(o["key_id"]).startswith("witness-"):
            rep.fail(f"{where}: not a witness key")
            continue
        try:
            sig = bytes.fromhex(o["cosignature"])
        except (TypeError, ValueError):
            sig = b""
        if not _verify_sig(keys, o["key_id"], sig, COSIGN_DOMAIN + cp["_hash"]):
            rep.fail(f"{where}: cosignature invalid or witness key not in the bundle")
            continue
        used_keys.add(o["key_id"])
        counts[o["key_id"]] = counts.get(o["key_id"], 0) + 1
    return counts


def _subjects(value: Any, out: set[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "subject_id" and isinstance(v, str) and v:
                out.add(v)
            else:
                _subjects(v, out)
    elif isinstance(value, list):
        for v in value:
            _subjects(v, out)


def _records(objs: list[dict[str, Any]], by_tp: dict[tuple[str, int], dict[int, dict[str, Any]]],
             keys: dict[str, Ed25519PublicKey], schemas: dict[bytes, str], rep: Report, used_keys: set[str],
             used_schemas: set[bytes]) -> list[tuple[dict[str, Any], str, dict[str, Any], str]]:
    """Prove each record; return (record, topic, decoded value, signer key id or '')."""
    out = []
    for r in objs:
        where = f"record {r['topic']}[{r['partition']}]@{r['offset']}"
        try:
            key, value = _b64(r["key"]), _b64(r["value"])
            headers = [(str(n), _b64(v)) for n, v in r["headers"]]
            proof = r["proof"]
            if set(proof) != PROOF_KEYS:
                raise ValueError
            path = [bytes.fromhex(h) for h in proof["audit_path"]]
        except (TypeError, ValueError, binascii.Error):
            rep.fail(f"{where}: malformed")
            continue
        cp = by_tp.get((r["topic"], r["partition"]), {}).get(proof["checkpoint_seq"])
        if cp is None:
            rep.fail(f"{where}: its checkpoint is not in the bundle")
            continue
        leaf = leaf_hash(r["topic"], r["partition"], r["offset"], content_hash(r["timestamp"], key, value, headers))
        if not cp["first_offset"] <= r["offset"] <= cp["last_offset"] or proof["tree_size"] != cp["record_count"] \
                or root_from_path(leaf, proof["leaf_index"], proof["tree_size"], path) != bytes.fromhex(cp["merkle_root"]):
            rep.fail(f"{where}: not included in the signed checkpoint (record or proof altered)")
            continue
        signer = ""
        sig_keys = [v for n, v in headers if n == KEY_HEADER]
        sigs = [v for n, v in headers if n == SIG_HEADER]
        if sig_keys or sigs:
            signer = (sig_keys[0] or b"").decode(errors="replace") if len(sig_keys) == 1 else ""
            if len(sigs) != 1 or not _verify_sig(keys, signer, sigs[0] or b"", record_signed_bytes(r["topic"], key, value)):
                rep.fail(f"{where}: record signature invalid or its key not in the bundle")
                continue
            used_keys.add(signer)
        if not value or value[:2] != b"\xc3\x01" or value[2:10] not in schemas:
            rep.fail(f"{where}: not single-object Avro with a schema in the bundle")
            continue
        used_schemas.add(value[2:10])
        try:
            decoded = avro.decode(schemas[value[2:10]], value[10:])
        except (avro.AvroError, UnicodeDecodeError, KeyError) as exc:
            rep.fail(f"{where}: does not decode against its schema ({exc})")
            continue
        out.append((r, r["topic"], decoded, signer))
    return out


def _phase_chain(records: list[tuple[dict[str, Any], str, Any, str]], rep: Report) -> None:
    """Completeness the records themselves reveal: the phase changes must form one unbroken
    chain from the start, and each must be preceded by a recorded ALLOW for that transition -
    a bundle (or a log) with a phase change or a decision taken out shows a hole here."""
    changes = sorted((r["offset"], d) for r, topic, d, _ in records
                     if topic == "uf.workflow.events" and d["envelope"]["event_type"] == "WorkflowPhaseChanged")
    allows = {(d.get("from_phase"), d["to_phase"]) for _r, topic, d, _ in records
              if topic == "uf.validation.decisions" and d["envelope"]["event_type"] == "ValidationDecided" and d["allowed"]}
    stops = {"FAILED", "REJECTED", "CANCELLED"}
    prev = None
    for offset, d in changes:
        frm, to = d.get("from_phase"), d["to_phase"]
        if frm != prev:
            rep.fail(f"phase change @{offset} {frm} -> {to} does not continue from {prev} (a phase change is missing)")
        if to not in stops and (frm, to) not in allows:
            rep.fail(f"phase change @{offset} {frm} -> {to} has no recorded ALLOW decision in the bundle")
        prev = to


def verify_bundle(root: Path, trusted: Iterable[str] = ()) -> Report:
    rep = Report()
    try:
        _verify(root, set(trusted), rep)
    except _Stop as exc:
        rep.fail(str(exc))
    return rep


def _verify(root: Path, trusted: set[str], rep: Report) -> None:
    manifest = _manifest(root, rep)
    wf = manifest["workflow_id"]
    keys = _keys(root, rep)
    schemas: dict[bytes, str] = {}
    for p in sorted((root / "schemas").glob("*.avsc")) if (root / "schemas").exists() else []:
        data = p.read_bytes()
        if avro.fingerprint(data).hex() != p.name[:-5]:
            rep.fail(f"schemas/{p.name}: content does not match its fingerprint")
        else:
            schemas[avro.fingerprint(data)] = data.decode()
    for name in ("records.jsonl", "checkpoints.jsonl", "consistency.jsonl"):
        if not (root / name).exists():
            raise _Stop(f"{name} missing")
    used_keys: set[str] = set()
    used_schemas: set[bytes] = set()
    by_tp = _checkpoints(_jsonl(root / "checkpoints.jsonl", rep, CHECKPOINT_KEYS), keys, trusted, rep, used_keys)
    n_consistency = _consistency(_jsonl(root / "consistency.jsonl", rep, CONSISTENCY_KEYS), by_tp, rep)
    witnessed = _cosignatures(_jsonl(root / "cosignatures.jsonl", rep, COSIGNATURE_KEYS), by_tp, keys, rep, used_keys) \
        if (root / "cosignatures.jsonl").exists() else {}
    records = _records(_jsonl(root / "records.jsonl", rep, RECORD_KEYS), by_tp, keys, schemas, rep, used_keys, used_schemas)

    # What the records say, and that every record belongs in this workflow's bundle.
    subjects: set[str] = set()
    for _r, topic, d, _ in records:
        if topic in WORKFLOW_TOPICS:
            _subjects(d, subjects)
    policy_hashes: dict[str, set[str]] = {}
    decided_versions: set[str] = set()
    counts: dict[str, int] = {}
    for r, topic, d, signer in records:
        env = d.get("envelope", {}) if isinstance(d, dict) else {}
        etype = env.get("event_type", "?")
        counts[etype] = counts.get(etype, 0) + 1
        key = _b64(r["key"]) or b""
        where = f"record {topic}[{r['partition']}]@{r['offset']}"
        if topic in WORKFLOW_TOPICS:
            if key != wf.encode() or env.get("workflow_id") != wf:
                rep.fail(f"{where}: belongs to another workflow")
            if etype == "ValidationDecided":
                decided_versions.add(d["policy_version"])
                if d.get("policy_sha256"):
                    policy_hashes.setdefault(d["policy_version"], set()).add(d["policy_sha256"])
        elif topic == "uf.policy" and etype == "PolicyActivated":
            policy_hashes.setdefault(d["version"], set()).add(d["sha256"])
        elif topic == "uf.gdpr" and etype in ("SubjectErased", "ErasureReceipt"):
            if key.decode(errors="replace") not in subjects:
                rep.fail(f"{where}: erasure of a subject this workflow does not concern")
            if etype == "ErasureReceipt" and not signer.startswith("audit-"):
                rep.fail(f"{where}: erasure receipt not signed by an audit key")
        else:
            rep.fail(f"{where}: a record a workflow bundle does not carry ({topic} {etype})")
    _phase_chain(records, rep)
    review_lines = check_reviews(wf, records, keys, rep.fail, used_keys)
    for p in sorted((root / "policies").glob("*")) if (root / "policies").exists() else []:
        version = p.name[:-5] if p.name.endswith(".yaml") else p.name
        digest = hashlib.sha256(p.read_bytes()).hexdigest()
        if digest not in policy_hashes.get(version, set()):
            rep.fail(f"policies/{p.name}: not the policy file any record names (hash differs or unreferenced)")
        elif version not in decided_versions:
            rep.fail(f"policies/{p.name}: no decision in the bundle was made under it")
    for key_id in sorted(set(keys) - used_keys):
        rep.fail(f"keys/{key_id}.pub: not used by any signature in the bundle")
    for fp in sorted(set(schemas) - used_schemas):
        rep.fail(f"schemas/{fp.hex()}.avsc: not used by any record in the bundle")
    audit_keys = sorted(k for k in used_keys if k.startswith("audit-"))
    rep.lines.append(f"workflow   {wf}")
    rep.lines.append(f"records    {len(records)} proven against signed checkpoints: "
                     + ", ".join(f"{n} {t}" for t, n in sorted(counts.items())))
    rep.lines.append(f"checkpoints {sum(len(v) for v in by_tp.values())} in {len(by_tp)} partition(s); "
                     f"{n_consistency} consistency proof(s) checked")
    n_cps = sum(len(v) for v in by_tp.values())
    rep.lines.append("witness    " + ("; ".join(f"{k} cosigned {n}/{n_cps} checkpoints" for k, n in sorted(witnessed.items()))
                                      or "no cosignatures (no witness ran)"))
    rep.lines.append(f"signers    {', '.join(sorted(used_keys))}")
    rep.lines.append(f"audit key  {', '.join(audit_keys) or '-'}" + ("" if trusted else "  (pin it with --trust after checking it out of band)"))
    rep.lines.append(f"policies   {', '.join(sorted(decided_versions)) or '-'}")
    rep.lines.extend(review_lines or ["review     no review decision in the bundle"])
