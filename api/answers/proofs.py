"""What the verifiable log's reads answer: signed tree heads, public keys, proofs, a check."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TreeHeadOut(BaseModel):
    """A signed tree head: the RFC 9162 Merkle tree over the first `tree_size` leaves.

    The signature (Ed25519, base64) covers exactly
    `"funding-tracker tree head v1\\n{tree_size}\\n{root_hash}\\n{timestamp}\\n"`.
    """

    tree_size: int = Field(description="Leaves (stored events) the tree covers.")
    root_hash: str = Field(description="The tree's root, SHA-256 in lowercase hex.")
    timestamp: int = Field(description="When it was signed: milliseconds since 1970, UTC.")
    signature: str = Field(description="Ed25519 signature, base64.")
    key_id: str = Field(description="SHA-256 of the raw 32-byte public key, hex.")


class PublicKeyOut(BaseModel):
    """One public key that signs (or signed) tree heads."""

    key_id: str = Field(description="SHA-256 of the raw 32-byte public key, hex.")
    algorithm: str = Field(default="Ed25519")
    public_key_pem: str = Field(description="SubjectPublicKeyInfo, PEM.")
    current: bool = Field(description="Whether it signs new heads (false: a retired key).")


class PublicKeysOut(BaseModel):
    """The public keys of tree heads: the signing key first, then retired ones."""

    keys: list[PublicKeyOut]


class InclusionProofOut(BaseModel):
    """The audit path proving the event at `position` is leaf `leaf_index` of the tree."""

    position: int = Field(description="The event's log position.")
    leaf_index: int = Field(description="Its leaf's index (positions can have gaps).")
    tree_size: int
    leaf_hash: str = Field(description="SHA-256(0x00 || leaf_input), hex.")
    audit_path: list[str] = Field(description="RFC 9162 §2.1.3.1 PATH, hex, leaf upwards.")
    root_hash: str = Field(description="The root of the tree of `tree_size` leaves, hex.")


class ConsistencyProofOut(BaseModel):
    """The proof that the tree of `to_size` leaves extends the tree of `from_size` leaves."""

    from_size: int
    to_size: int
    consistency_path: list[str] = Field(description="RFC 9162 §2.1.4.1 PROOF, hex.")
    from_root: str = Field(description="The root of the tree of `from_size` leaves, hex.")
    to_root: str = Field(description="The root of the tree of `to_size` leaves, hex.")


class VerifyOut(BaseModel):
    """Every leaf recomputed from the stored events and the tree rebuilt from them."""

    ok: bool
    checked: int = Field(description="Events checked.")
    head_position: int = Field(description="The log position of the last event checked.")
    head_hash: str = Field(description="The root of the tree over the events checked, hex.")
    first_bad_position: int | None = Field(
        default=None, description="Where the log first differs from its tree (absent if ok)."
    )
    problem: str | None = Field(default=None, description="What differs there (absent if ok).")
