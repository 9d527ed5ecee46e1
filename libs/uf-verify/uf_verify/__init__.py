"""uf_verify: checks an evidence bundle written by `ufctl audit export` without trusting the
operator's servers or sharing their code (an independent implementation of the hashes, Merkle
proofs, signatures and Avro decoding; tests cross-check it byte for byte against the services').

    python -m uf_verify BUNDLE [--trust KEY_ID ...]

Exit 0 and `VERIFIED` on the last line when every byte of the bundle is accounted for and
every check holds; otherwise exit 1 and the reasons."""
from uf_verify.bundle import verify_bundle

__all__ = ["verify_bundle"]
