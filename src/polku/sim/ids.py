"""Deterministic identifiers: seeded bijective scrambles, so ids look random yet never collide."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pyarrow as pa

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def seed_mix(seed: int, salt: str) -> int:
    """A 64-bit number derived from the seed and a purpose, stable across platforms."""
    digest = hashlib.blake2b(f"{seed}:{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def block_rng(seed: int, block: int, stream: int = 0) -> np.random.Generator:
    """The random generator of one block of accounts, independent of every other block.

    Stream 0 drives the block's world; other streams are independent side channels, so a
    rare extra (such as the shared devices) never shifts the draws of the world itself.
    """
    entropy = [seed, block, 0x504F4C4B55] + ([stream] if stream else [])
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def scramble(keys: np.ndarray, seed: int, salt: str) -> np.ndarray:
    """A seeded bijection of uint64 keys (xor, then the splitmix64 finaliser)."""
    x = keys.astype(np.uint64) ^ np.uint64(seed_mix(seed, salt))
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def hex_strings(values: np.ndarray) -> pa.StringArray:
    """Sixteen lower-case hex digits per uint64, built without Python objects."""
    n = len(values)
    raw = np.ascontiguousarray(values.astype(">u8")).view(np.uint8).reshape(n, 8)
    nibbles = np.empty((n, 16), dtype=np.uint8)
    nibbles[:, 0::2] = raw >> 4
    nibbles[:, 1::2] = raw & 15
    data = pa.py_buffer(_HEX[nibbles].tobytes())
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * 16).tobytes())
    return pa.StringArray.from_buffers(n, offsets, data)


def event_ids(seed: int, block: int, n: int) -> pa.StringArray:
    """Unique event ids for the n events of a block, in their order."""
    keys = (np.uint64(block) << np.uint64(40)) | np.arange(n, dtype=np.uint64)
    return hex_strings(scramble(keys, seed, "event"))


def anonymous_ids(seed: int, block: int, n_contacts: int) -> list[str]:
    """Two UUID-shaped cookie ids per contact (device 0 and 1), flattened contact-major."""
    keys = (np.uint64(block) << np.uint64(32)) | np.arange(2 * n_contacts, dtype=np.uint64)
    hi = scramble(keys, seed, "anon-hi").tolist()
    lo = scramble(keys, seed, "anon-lo").tolist()
    out = []
    for h, low in zip(hi, lo, strict=True):
        a, b = f"{h:016x}", f"{low:016x}"
        out.append(f"{a[:8]}-{a[8:12]}-4{a[13:16]}-{b[:4]}-{b[4:16]}")
    return out


def name_permutation(seed: int, size: int) -> tuple[int, int]:
    """Multiplier and offset of a seeded affine permutation of range(size)."""
    a = seed_mix(seed, "name-a") % size | 1
    while math.gcd(a, size) != 1:
        a += 2
    return a, seed_mix(seed, "name-c") % size
