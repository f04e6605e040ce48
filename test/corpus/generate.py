"""Differential corpus generator (test set-up only): random collections and rows on a source server.

    .cache/venv/corpus/bin/python test/corpus/generate.py --uri http://127.0.0.1:19530 \
        --source-kind milvus-2.3.5 --target-kind milvus-lite --seed 7 --collections 4 \
        --out /tmp/manifest.json [--token root:Milvus] [--rows 300] [--exclude empty_array,...]

Every schema and every row is drawn from hypothesis strategies with a ConjectureData driven by a
seeded random.Random, so one (seed, collection index) always gives the same collection, the same
rows, the same duplicates and the same deletions: the seed printed by a failing test reproduces it.
(hypothesis' own @given/example() choose their examples themselves and try the simplest first;
ConjectureData + BuildContext is the engine under them, pinned in install.sh with hypothesis.)

Rows are written with pymilvus, as users write them, never with the project's encoder. The
manifest (JSON) says what was created so the test knows what to expect: the schema summary, the
features used (what a target kind must support), the deleted and duplicated keys and the number of
live rows.

What each source kind can hold was checked on the real servers (also in test/support/milvus-server.ts):
- milvus-2.3.5: one vector field (FloatVector or BinaryVector), no nullable/default/functions/sparse;
  Float/Double accept NaN and ±Inf, vectors refuse them; index parameters are kept.
- milvus-lite (3.2.2): several vector fields (FloatVector, SparseFloatVector), nullable and
  defaults, BM25; no BinaryVector. It drops index parameters, descriptions and shard counts; it
  refuses an empty sparse vector; NaN/±Inf are accepted everywhere, in vectors too (not generated
  there: a 2.3.5 target refuses them and faiss on lite may abort on them); a second insert of a
  key replaces the first (count(*) counts it once), where Milvus keeps both copies.
- Not generated: int64 key 2^63-1 (2.3.5 counts that row but returns it from no query, documented
  in the README), NUL characters in strings, JSON integers beyond int64 (pymilvus refuses them).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import random
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from hypothesis.control import BuildContext
from hypothesis.internal.conjecture.data import ConjectureData
from pymilvus import DataType, Function, FunctionType, MilvusClient

I64_MIN, I64_MAX = -(2**63), 2**63 - 1
INT_RANGES = {
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (I64_MIN, I64_MAX),
}
F32_MAX = 3.4028234663852886e38
F32_MIN_SUB = 1.401298464324817e-45  # smallest float32 subnormal
F32_MAX_SUB = 1.1754942106924411e-38  # largest float32 subnormal
F64_MAX = sys.float_info.max
F64_MIN_SUB = 5e-324

SCALAR_ELEMENT_TYPES = ["BOOL", "INT8", "INT16", "INT32", "INT64", "FLOAT", "DOUBLE", "VARCHAR"]

# Named generator features that can be switched off with --exclude (never silently: the manifest
# lists what was excluded). Used only to get past a known engine defect to find further ones.
FEATURES = {
    "empty_array",  # rows holding [] in an ARRAY field
    "varchar_array",  # ARRAY fields with VarChar elements
    "tuned_index",  # HNSW / IVF indexes with build parameters (lite reports none)
    "nonfinite_scalar",  # NaN / ±Inf in Float and Double fields
    "control_char_keys",  # VarChar primary keys with control characters other than \n \r \t
}
CONTROL = {chr(c) for c in range(0x20)} - {"\n", "\r", "\t"}


class Draw:
    """Draws values from hypothesis strategies, deterministically from one seed."""

    def __init__(self, seed: str):
        # Decisions (chance, pick) come from a plain seeded Random: hypothesis' integer draws lean
        # towards small values by design (good for values, a skew for "with probability p").
        self.rng = random.Random(f"decisions:{seed}")
        self.data = ConjectureData(random=random.Random(seed), max_choices=10**8)
        self.data.max_length = 2**40  # the default (8 KiB of choices) suits one test case, not a corpus
        self.ctx = BuildContext(self.data, is_final=True, wrapped_test=lambda: None)
        self.ctx.__enter__()

    def __call__(self, strategy: st.SearchStrategy[Any]) -> Any:
        return self.data.draw(strategy)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, items: list[Any]) -> Any:
        return self.rng.choice(items)

    def close(self) -> None:
        self.ctx.__exit__(None, None, None)


# ------------------------------------------------------------------------------------------------
# Values


def utf8_len(s: str) -> int:
    return len(s.encode("utf-8"))


def fit_bytes(s: str, limit: int) -> str:
    """The longest prefix of s whose UTF-8 encoding fits limit bytes (max_length counts bytes)."""
    out, used = [], 0
    for ch in s:
        n = utf8_len(ch)
        if used + n > limit:
            break
        out.append(ch)
        used += n
    return "".join(out)


def full_string(limit: int, draw: Draw) -> str:
    """A string of exactly `limit` UTF-8 bytes made of 2-, 3- and 4-byte characters, padded."""
    out, used = [], 0
    wide = ["é", "中", "😀", "ß", "€", "\u2028", "𝄞"]
    while used < limit:
        ch = draw.pick(wide)
        if used + utf8_len(ch) > limit:
            ch = "a"
        out.append(ch)
        used += utf8_len(ch)
    return "".join(out)


TEXT = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters=["\x00"]),
    max_size=40,
)
NASTY = ["'", '"', "\\", '\\"', "' or 1==1 or '", "a\nb", "tab\t", "中文", "😀", "ünï", "${x}", "%s"]


def varchar(draw: Draw, max_length: int) -> str:
    r = draw.rng.randint(0, 9)
    if r == 0:
        return ""
    if r == 1:
        return full_string(max_length, draw)
    if r == 2:
        return fit_bytes(draw.pick(NASTY), max_length)
    return fit_bytes(draw(TEXT), max_length)


def int_value(draw: Draw, kind: str) -> int:
    lo, hi = INT_RANGES[kind]
    return draw(st.one_of(st.sampled_from([lo, hi, 0, -1, 1, lo + 1, hi - 1]), st.integers(lo, hi)))


def f32_bits(draw: Draw) -> float:
    """Any float32, from its bit pattern (every exponent equally likely: subnormals included).
    Drawn as bits because st.floats(width=32) rejects some draws, which a single ConjectureData
    cannot retry."""
    return struct.unpack("<f", struct.pack("<I", draw(st.integers(0, 2**32 - 1))))[0]


def f64_bits(draw: Draw) -> float:
    return struct.unpack("<d", struct.pack("<Q", draw(st.integers(0, 2**64 - 1))))[0]


def float32(draw: Draw, nonfinite: bool) -> float:
    edges = [0.0, -0.0, F32_MIN_SUB, -F32_MIN_SUB, F32_MAX_SUB, F32_MAX, -F32_MAX, 1.0, -1.0]
    if nonfinite:
        edges += [math.nan, math.inf, -math.inf]
    r = draw.rng.randrange(4)
    if r == 0:
        v = draw.pick(edges)
    elif r == 1:  # hypothesis' bits: mostly small patterns (subnormals), some of every kind
        v = f32_bits(draw)
    elif r == 2:  # uniform bits: any exponent
        v = struct.unpack("<f", struct.pack("<I", draw.rng.getrandbits(32)))[0]
    else:
        v = draw(st.integers(-(2**24), 2**24)) / 64
    return v if nonfinite or math.isfinite(v) else 0.5


def float64(draw: Draw, nonfinite: bool) -> float:
    edges = [0.0, -0.0, F64_MIN_SUB, -F64_MIN_SUB, 2.2250738585072014e-308, F64_MAX, -F64_MAX, 0.1]
    if nonfinite:
        edges += [math.nan, math.inf, -math.inf]
    r = draw.rng.randrange(4)
    if r == 0:
        v = draw.pick(edges)
    elif r == 1:
        v = f64_bits(draw)
    elif r == 2:
        v = struct.unpack("<d", struct.pack("<Q", draw.rng.getrandbits(64)))[0]
    else:
        v = draw(st.integers(-(2**40), 2**40)) / 1000
    return v if nonfinite or math.isfinite(v) else 0.25


JSON_KEYS = st.one_of(st.sampled_from(["", "é", "中文", "😀", "a.b", "$meta", "x y", '"q"', "\\"]), TEXT)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([I64_MAX, I64_MIN, 2**53 + 1, -(2**53) - 1, 0]),
    st.integers(I64_MIN, I64_MAX),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(JSON_KEYS, inner, max_size=6)),
    max_leaves=30,
)


def json_value(draw: Draw, top_object: bool) -> Any:
    r = draw.rng.randint(0, 19)
    if r == 0:
        value: Any = {}
    elif r == 1:
        # deep: 60 levels of nesting, objects and arrays in turn
        value = {"leaf": I64_MAX}
        for depth in range(60):
            value = {f"d{depth}": value} if depth % 2 else [value, []]
    elif r == 2:
        # large: a few thousand numbers and a long unicode string
        value = {"many": list(range(-1500, 1500)), "long": "é" * 5000}
    else:
        value = draw(JSON_VALUES)
    if top_object and not isinstance(value, dict):
        value = {"v": value}
    return value


def sparse_vector(draw: Draw) -> dict[int, float]:
    # No empty sparse vector: milvus-lite 3.2.2 refuses it ("sparse vector must contain at least
    # one nonzero float32 weight"); one entry is the smallest.
    r = draw.rng.randint(0, 9)
    if r == 0:
        return {draw.pick([0, 2**32 - 2]): F32_MIN_SUB}
    if r == 1:  # many entries
        idx = draw(st.sets(st.integers(0, 2**32 - 2), min_size=500, max_size=800))
    else:
        idx = draw(st.sets(st.sampled_from([0, 1, 2**32 - 2]) | st.integers(0, 2**32 - 2), min_size=1, max_size=20))
    # Positive finite values (what sparse embeddings hold), subnormals and 1e30-ish included.
    return {i: min(abs(float32(draw, False)), 1e30) or F32_MIN_SUB for i in sorted(idx)}


# ------------------------------------------------------------------------------------------------
# Schemas


@dataclass
class Field:
    name: str
    dtype: str  # pymilvus DataType name
    params: dict[str, Any] = field(default_factory=dict)
    element: str | None = None
    primary: bool = False
    auto_id: bool = False
    nullable: bool = False
    default: Any = None
    partition_key: bool = False
    analyzer: bool = False
    function_output: bool = False
    description: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.dtype,
            "element": self.element,
            "params": self.params,
            "primary": self.primary,
            "autoID": self.auto_id,
            "nullable": self.nullable,
            "default": self.default,
            "partitionKey": self.partition_key,
            "functionOutput": self.function_output,
        }


@dataclass
class Index:
    field: str
    index_type: str
    metric: str
    params: dict[str, Any]
    name: str


@dataclass
class Plan:
    name: str
    fields: list[Field]
    dynamic: bool
    description: str
    shards: int
    consistency: str
    num_partitions: int | None
    partitions: list[str]
    aliases: list[str]
    indexes: list[Index]
    bm25: tuple[str, str] | None  # (input, output)
    features: set[str]

    @property
    def pk(self) -> Field:
        return next(f for f in self.fields if f.primary)


def draw_schema(draw: Draw, name: str, kind: str, targets: list[str], excluded: set[str]) -> Plan:
    lite = kind.startswith("milvus-lite")
    # Half of the lite collections going to a 2.3.5 too use only what 2.3.5 holds (else nearly every
    # one would be refused by the plan, and the copy path lite → 2.3.5 would go untested).
    portable = lite and "milvus-2.3.5" in targets and draw.chance(0.5)
    lite_features = lite and not portable
    features: set[str] = set()
    fields: list[Field] = []
    desc = lambda: draw.pick(["", "plain", "é 中文 😀", "quote's \"dq\" back\\slash"])  # noqa: E731

    pk_type = draw.pick(["INT64", "VARCHAR"])
    if pk_type == "INT64":
        auto = draw.chance(0.2)
        fields.append(Field("pk", "INT64", primary=True, auto_id=auto, description=desc()))
        if auto:
            features.add("auto_id")
    else:
        fields.append(Field("pk", "VARCHAR", {"max_length": draw.pick([1, 8, 64, 512])}, primary=True))

    scalar_types = ["BOOL", "INT8", "INT16", "INT32", "INT64", "FLOAT", "DOUBLE", "VARCHAR", "JSON", "ARRAY"]
    # milvus-lite 3.2.2 holds Geometry (WKT text) and Timestamptz (UTC microseconds); the embedded
    # Lite 2.5.1 does not.
    if lite_features and kind == "milvus-lite":
        scalar_types += ["GEOMETRY", "TIMESTAMPTZ"]
    for i in range(draw.rng.randint(0, 9)):
        t = draw.pick(scalar_types)
        if t in ("GEOMETRY", "TIMESTAMPTZ"):
            features.add(t.lower())
        f = Field(f"s{i}_{t.lower()}", t, description=desc())
        if t == "VARCHAR":
            f.params["max_length"] = draw.pick([1, 3, 16, 255, 1024, 65535])
        if t == "ARRAY":
            elements = [e for e in SCALAR_ELEMENT_TYPES if e != "VARCHAR" or "varchar_array" not in excluded]
            f.element = draw.pick(elements)
            f.params["max_capacity"] = draw.pick([1, 2, 8, 100, 4096])
            if f.element == "VARCHAR":
                f.params["max_length"] = draw.pick([1, 8, 64, 300])
                features.add("varchar_array")
            f.name = f"s{i}_arr_{f.element.lower()}"
        if lite_features and draw.chance(0.4):
            f.nullable = True
            features.add("nullable")
        if lite_features and t not in ("JSON", "ARRAY", "GEOMETRY", "TIMESTAMPTZ") and draw.chance(0.3):
            f.default = default_for(draw, f)
            features.add("default")
        fields.append(f)

    # Partition key: an Int64 or VarChar field that is neither nullable nor the primary key.
    num_partitions = None
    if draw.chance(0.25):
        kt = draw.pick(["INT64", "VARCHAR"])
        pkf = Field("route", kt, {"max_length": 32} if kt == "VARCHAR" else {}, partition_key=True)
        fields.append(pkf)
        num_partitions = draw.pick([1, 4, 16, 64])
        features.add("partition_key")

    bm25 = None
    if portable:
        fields.append(Field("v0", "FLOAT_VECTOR", {"dim": draw.pick([1, 2, 8, 32, 128])}))
    elif lite:
        nvec = draw.rng.randint(1, 3)
        kinds = [draw.pick(["FLOAT_VECTOR", "SPARSE_FLOAT_VECTOR"]) for _ in range(nvec)]
        if "FLOAT_VECTOR" not in kinds and draw.chance(0.5):
            kinds[0] = "FLOAT_VECTOR"
        if nvec > 1:
            features.add("multi_vector")
        for j, vk in enumerate(kinds):
            if vk == "FLOAT_VECTOR":
                fields.append(Field(f"v{j}", vk, {"dim": draw.pick([1, 2, 8, 32, 128])}))
            else:
                fields.append(Field(f"v{j}", vk))
                features.add("sparse")
        if draw.chance(0.3):
            fields.append(Field("text", "VARCHAR", {"max_length": 1024}, analyzer=True))
            fields.append(Field("text_bm25", "SPARSE_FLOAT_VECTOR", function_output=True))
            bm25 = ("text", "text_bm25")
            features.update({"bm25", "sparse", "multi_vector"})
    else:
        to_lite = any(t.startswith("milvus-lite") for t in targets)
        vk = "BINARY_VECTOR" if draw.chance(0.25 if to_lite else 0.5) else "FLOAT_VECTOR"
        if vk == "FLOAT_VECTOR":
            fields.append(Field("vec", vk, {"dim": draw.pick([1, 2, 8, 32, 128])}))
        else:
            fields.append(Field("vec", vk, {"dim": draw.pick([8, 16, 64, 256])}))
            features.add("binary_vector")

    indexes = [draw_index(draw, f, kind, excluded, features) for f in fields if "VECTOR" in f.dtype]
    partitions = []
    if num_partitions is None:
        partitions = [f"p{i}_{draw.pick(['a', 'b', 'x'])}" for i in range(draw.rng.randint(0, 3))]
        if partitions:
            features.add("named_partitions")
    return Plan(
        name=name,
        fields=fields,
        dynamic=draw.chance(0.5),
        description=desc(),
        shards=draw.rng.randint(1, 4),
        consistency=draw.pick(["Strong", "Session", "Bounded", "Eventually"]),
        num_partitions=num_partitions,
        partitions=partitions,
        aliases=[f"{name}_alias"] if draw.chance(0.3) else [],
        indexes=indexes,
        bm25=bm25,
        features=features,
    )


def default_for(draw: Draw, f: Field) -> Any:
    t = f.dtype
    if t == "BOOL":
        return draw(st.booleans())
    if t in INT_RANGES:
        return int_value(draw, t)
    if t == "FLOAT":
        return float32(draw, False)
    if t == "DOUBLE":
        return float64(draw, False)
    return varchar(draw, f.params["max_length"])


def draw_index(draw: Draw, f: Field, kind: str, excluded: set[str], features: set[str]) -> Index:
    lite = kind.startswith("milvus-lite")
    if f.function_output:
        return Index(f.name, "SPARSE_INVERTED_INDEX", "BM25", {}, f"{f.name}_idx")
    if f.dtype == "SPARSE_FLOAT_VECTOR":
        return Index(f.name, "SPARSE_INVERTED_INDEX", "IP", {}, f"{f.name}_idx")
    if f.dtype == "BINARY_VECTOR":
        t = draw.pick(["BIN_FLAT", "BIN_IVF_FLAT"])
        params = {"nlist": draw.pick([1, 16, 128])} if t == "BIN_IVF_FLAT" else {}
        return Index(f.name, t, draw.pick(["HAMMING", "JACCARD"]), params, draw.pick(["", "bidx"]) or f.name)
    types = ["FLAT", "HNSW", "IVF_FLAT"] + ([] if lite else ["IVF_SQ8"])
    if kind == "milvus-lite-2.5.1":  # "local mode only support FLAT IVF_FLAT AUTOINDEX"
        types = ["FLAT", "IVF_FLAT"]
    if "tuned_index" in excluded:
        types = ["FLAT"]
    t = draw.pick(types)
    params: dict[str, Any] = {}
    if t == "HNSW":
        params = {"M": draw.pick([4, 16, 48]), "efConstruction": draw.pick([8, 64, 200])}
    elif t.startswith("IVF"):
        params = {"nlist": draw.pick([1, 16, 128])}
    if t != "FLAT":
        features.add("tuned_index")
    metric = draw.pick(["L2", "IP", "COSINE"])
    return Index(f.name, t, metric, params, draw.pick(["", f"{f.name}_index"]) or f.name)


# ------------------------------------------------------------------------------------------------
# Rows


def tally(edges: dict[str, int], f: Field, v: Any) -> None:
    """Counts the edge values a collection holds (in the manifest: what a passing run covered)."""

    def bump(k: str) -> None:
        edges[k] = edges.get(k, 0) + 1

    if v is OMIT:
        bump("default_filled")
    elif v is None:
        bump("null")
    elif f.dtype == "ARRAY":
        bump("empty_array" if not v else "full_array" if len(v) == f.params["max_capacity"] else "array")
    elif isinstance(v, float) and not math.isfinite(v):
        bump("nonfinite")
    elif isinstance(v, float) and v == 0 and math.copysign(1, v) < 0:
        bump("negative_zero")
    elif isinstance(v, str) and "max_length" in f.params and utf8_len(v) == f.params["max_length"] and v:
        bump("string_at_max_length")
    elif isinstance(v, str) and not v:
        bump("empty_string")


def draw_rows(
    draw: Draw, plan: Plan, count: int, excluded: set[str], huge_vectors: bool, edges: dict[str, int]
) -> list[dict]:
    nonfinite = "nonfinite_scalar" not in excluded
    rows: list[dict] = []
    pk = plan.pk
    keys: list[Any] = []
    if not pk.auto_id:
        if pk.dtype == "INT64":
            # 2^63-1 is left out: Milvus 2.3 counts that row but no query returns it (documented).
            key_edges = st.sampled_from([I64_MIN, I64_MIN + 1, -1, 0, 1, I64_MAX - 1])
            keyset = draw(st.sets(st.one_of(key_edges, st.integers(I64_MIN, I64_MAX - 1)), min_size=count, max_size=count))
        else:
            ml = pk.params["max_length"]
            keyset = set()
            while len(keyset) < count:
                k = varchar(draw, ml) or draw.pick(["k", "\\", "'"])
                if "control_char_keys" in excluded:
                    k = "".join(ch for ch in k if ch not in CONTROL)
                k = fit_bytes(k, ml)
                if k:
                    keyset.add(k)
                if ml == 1 and len(keyset) >= 60:  # few one-byte keys exist that we generate
                    break
        keys = sorted(keyset, key=lambda k: (str(type(k)), k))
        keys = draw(st.permutations(keys))
    n = len(keys) if not pk.auto_id else count
    for i in range(n):
        row: dict[str, Any] = {}
        if not pk.auto_id:
            row["pk"] = keys[i]
        for f in plan.fields:
            if f.primary or f.function_output:
                continue
            v = cell(draw, f, excluded, nonfinite, huge_vectors)
            tally(edges, f, v)
            if v is OMIT:
                continue
            row[f.name] = v
        if plan.dynamic and draw.chance(0.6):
            for _ in range(draw.rng.randint(0, 3)):
                k = draw(st.sampled_from(["a b", "é", "$x", "x.y", "1", 'q"uote', "ключ", "dyn"]))
                row[k] = json_value(draw, False)
        rows.append(row)
    return rows


OMIT = object()


def cell(draw: Draw, f: Field, excluded: set[str], nonfinite: bool, huge_vectors: bool) -> Any:
    if f.nullable and draw.chance(0.2):
        return None
    if f.default is not None and draw.chance(0.2):
        return OMIT  # the server fills the default
    t = f.dtype
    if t == "BOOL":
        return draw(st.booleans())
    if t in INT_RANGES:
        return int_value(draw, t)
    if t == "FLOAT":
        return float32(draw, nonfinite)
    if t == "DOUBLE":
        return float64(draw, nonfinite)
    if t == "VARCHAR":
        if f.analyzer:
            words = ["milvus", "migration", "vector", "é", "中文", "copy", "exact"]
            return fit_bytes(" ".join(draw(st.lists(st.sampled_from(words), max_size=30))), f.params["max_length"])
        return varchar(draw, f.params["max_length"])
    if t == "JSON":
        return json_value(draw, True)
    if t == "GEOMETRY":
        return geometry_wkt(draw)
    if t == "TIMESTAMPTZ":
        return timestamptz(draw)
    if t == "ARRAY":
        cap = f.params["max_capacity"]
        r = draw.rng.randint(0, 5)
        if r == 0 and "empty_array" not in excluded:
            size = 0
        elif r == 1:
            size = cap
        else:
            size = draw(st.integers(0 if "empty_array" not in excluded else 1, min(cap, 12)))
        el = Field("e", f.element or "", {"max_length": f.params.get("max_length", 0)})
        return [element(draw, el, nonfinite) for _ in range(size)]
    if t == "FLOAT_VECTOR":
        dim = f.params["dim"]
        if huge_vectors:
            return [float32(draw, False) for _ in range(dim)]
        # Without huge components: |x| <= 1e6 (bits drawn, then scaled down when too large).
        out = []
        for _ in range(dim):
            v = float32(draw, False)
            out.append(v if abs(v) <= 1e6 else struct.unpack("<f", struct.pack("<f", v / 1e33))[0])
        return out
    if t == "BINARY_VECTOR":
        return draw(st.binary(min_size=f.params["dim"] // 8, max_size=f.params["dim"] // 8))
    if t == "SPARSE_FLOAT_VECTOR":
        return sparse_vector(draw)
    raise ValueError(t)


def coordinate(draw: Draw) -> str:
    """A finite double as WKT text: shortest round-trip form, -0.0, subnormals and huge values included."""
    v = float64(draw, False)
    return repr(v) if draw.chance(0.8) else f"{v:.17g}"


def geometry_wkt(draw: Draw) -> str:
    """POINT or a triangle POLYGON (closed, never self-intersecting), the forms milvus-lite 3.2.2 takes."""
    if draw.chance(0.5):
        sep = draw.pick([" ", "  "])
        return f"POINT{draw.pick(['', ' '])}({coordinate(draw)}{sep}{coordinate(draw)})"
    x0, y0 = draw(st.integers(-10**6, 10**6)), draw(st.integers(-10**6, 10**6))
    w, h = draw(st.integers(1, 10**6)), draw(st.integers(1, 10**6))
    frac = draw.pick(["", ".5", ".000001", ".25"])
    pts = [f"{x0}{frac} {y0}", f"{x0 + w}{frac} {y0}", f"{x0}{frac} {y0 + h}", f"{x0}{frac} {y0}"]
    return f"POLYGON (({', '.join(pts)}))"


TIMESTAMPTZ_MIN = -62135596800 * 10**6  # 0001-01-01T00:00:00Z in microseconds
TIMESTAMPTZ_MAX = 253402300799 * 10**6 + 999999  # 9999-12-31T23:59:59.999999Z


def timestamptz(draw: Draw) -> str:
    """An instant as ISO 8601 text with an offset (what pymilvus sends), the calendar's ends included."""
    us = draw(st.one_of(
        st.sampled_from([TIMESTAMPTZ_MIN, TIMESTAMPTZ_MAX, 0, -1, 1]),
        st.integers(TIMESTAMPTZ_MIN + 86400 * 10**6, TIMESTAMPTZ_MAX - 86400 * 10**6),
    ))
    minutes = draw.pick([0, 0, 330, -720, 840, 45, -59])
    local = us + minutes * 60 * 10**6  # the wall-clock time at that offset must be a date too
    if not TIMESTAMPTZ_MIN <= local <= TIMESTAMPTZ_MAX:
        minutes = 0
    tz = datetime.timezone(datetime.timedelta(minutes=minutes))
    at = (datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(microseconds=us)).astimezone(tz)
    text = at.isoformat()
    return text.replace("+00:00", "Z") if minutes == 0 and draw.chance(0.5) else text


def element(draw: Draw, f: Field, nonfinite: bool) -> Any:
    if f.dtype == "BOOL":
        return draw(st.booleans())
    if f.dtype in INT_RANGES:
        return int_value(draw, f.dtype)
    if f.dtype == "FLOAT":
        return float32(draw, nonfinite)
    if f.dtype == "DOUBLE":
        return float64(draw, nonfinite)
    return varchar(draw, f.params["max_length"])


# ------------------------------------------------------------------------------------------------
# Writing


def create(client: MilvusClient, plan: Plan) -> None:
    schema = MilvusClient.create_schema(
        auto_id=plan.pk.auto_id, enable_dynamic_field=plan.dynamic, description=plan.description
    )
    for f in plan.fields:
        kw: dict[str, Any] = dict(f.params)
        if f.primary:
            kw["is_primary"] = True
            kw["auto_id"] = f.auto_id
        if f.element:
            kw["element_type"] = getattr(DataType, f.element)
        if f.nullable:
            kw["nullable"] = True
        if f.default is not None:
            kw["default_value"] = f.default
        if f.partition_key:
            kw["is_partition_key"] = True
        if f.analyzer:
            kw["enable_analyzer"] = True
        if f.description:
            kw["description"] = f.description
        schema.add_field(f.name, getattr(DataType, f.dtype), **kw)
    if plan.bm25:
        schema.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=[plan.bm25[0]],
                output_field_names=[plan.bm25[1]],
            )
        )
    kw = {"consistency_level": plan.consistency, "shards_num": plan.shards}
    if plan.num_partitions:
        kw["num_partitions"] = plan.num_partitions
    client.create_collection(plan.name, schema=schema, **kw)
    for p in plan.partitions:
        client.create_partition(plan.name, p)
    for a in plan.aliases:
        client.create_alias(plan.name, a)


def index_and_load(client: MilvusClient, plan: Plan) -> None:
    ip = client.prepare_index_params()
    for ix in plan.indexes:
        ip.add_index(ix.field, index_type=ix.index_type, metric_type=ix.metric, params=ix.params, index_name=ix.name)
    client.create_index(plan.name, ip)
    client.load_collection(plan.name)


def count(client: MilvusClient, name: str) -> int:
    r = client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")
    return int(r[0]["count(*)"])


def json_bytes(plan: Plan, row: dict) -> int:
    """About the largest JSON value of a row as the server stores it (dynamic fields together)."""
    names = {f.name for f in plan.fields}
    sizes = [len(json.dumps(row[f.name], default=str)) for f in plan.fields if f.dtype == "JSON" and row.get(f.name) is not None]
    if plan.dynamic:
        sizes.append(len(json.dumps({k: v for k, v in row.items() if k not in names}, default=str)))
    return max(sizes, default=0)


def write(draw: Draw, client: MilvusClient, plan: Plan, rows: list[dict], kind: str) -> dict[str, Any]:
    """Inserts rows in batches (some flushed into sealed segments), duplicates some, deletes some."""
    pk = plan.pk
    targets = [None] + plan.partitions
    placed: list[tuple[str | None, dict]] = [(draw.pick(targets), r) for r in rows]
    batches = max(1, min(len(placed), draw.rng.randint(1, 4)))
    ids: list[Any] = []
    per = math.ceil(len(placed) / batches) if placed else 0
    # One flush at most (sealed segments besides growing ones): a flush takes ~3 s on 2.3.5.
    flush_after = draw.rng.randint(0, 2 * batches)
    for b in range(batches):
        chunk = placed[b * per : (b + 1) * per]
        for part in targets:
            prow = [r for p, r in chunk if p == part]
            if prow:
                res = client.insert(plan.name, prow, partition_name=part or "")
                ids.extend(res["ids"])
        if b == flush_after:
            client.flush(plan.name)
    # Duplicates: identical copies of a few rows, in the same partition (what a retried insert does).
    duplicates: list[Any] = []
    if not pk.auto_id and placed and draw.chance(0.5):
        for part, r in draw(st.lists(st.sampled_from(placed), max_size=5, unique_by=lambda x: id(x[1]))):
            client.insert(plan.name, [r], partition_name=part or "")
            duplicates.append(r["pk"])
    # Deletions: a few keys (plain ones for VarChar keys: how they are deleted does not matter).
    deleted: list[Any] = []
    live = list(dict.fromkeys(ids))
    if live and draw.chance(0.6):
        cand = [k for k in live if isinstance(k, int) or k.isascii() and k.isalnum()]
        if cand:
            deleted = draw(st.lists(st.sampled_from(cand), max_size=max(1, len(cand) // 10), unique=True))
            if duplicates and draw.chance(0.5) and duplicates[0] in cand and duplicates[0] not in deleted:
                deleted.append(duplicates[0])
            if deleted:
                client.delete(plan.name, ids=deleted)
    expected = len(set(live) - set(deleted))
    return {
        "inserted": len(rows),
        "duplicates": [str(k) for k in duplicates],
        "deleted": [str(k) for k in deleted],
        "liveKeys": expected,
        # milvus-lite 3.2.2 keeps one row per key (a second insert replaces the first, checked);
        # Milvus counts every copy.
        "liveRows": expected + (0 if kind == "milvus-lite" else sum(1 for k in duplicates if k not in deleted)),
    }


# ------------------------------------------------------------------------------------------------
# Fixed regression cases: the smallest collection of each defect the corpus found (see
# /work/notes/corpus-findings.md), written exactly, no randomness. `--case NAME`.


def _plan(name: str, fields: list[Field], indexes: list[Index], features: set[str]) -> Plan:
    return Plan(
        name=name,
        fields=fields,
        dynamic=False,
        description="",
        shards=1,
        consistency="Strong",
        num_partitions=None,
        partitions=[],
        aliases=[],
        indexes=indexes,
        bm25=None,
        features=features,
    )


def _plan_partitions(name: str, fields: list[Field], indexes: list[Index], features: set[str], partitions: list[str]) -> Plan:
    p = _plan(name, fields, indexes, features)
    p.partitions = partitions
    return p


# A case row's partition (popped before the insert); rows without it go to _default.
PARTITION = "__partition"


def _pk_vec(pk: str = "INT64") -> list[Field]:
    key = Field("pk", pk, {"max_length": 16} if pk == "VARCHAR" else {}, primary=True)
    return [key, Field("v0", "FLOAT_VECTOR", {"dim": 2})]


FLAT = Index("v0", "FLAT", "L2", {}, "v0")

CASES: dict[str, Any] = {
    # F0 (issue 12): a 2.3.5 query reply encodes [] as a ScalarField without data; passed through,
    # the 2.3.5 target's proxy dereferences it and the whole server dies.
    "empty_array": lambda n: (
        _plan(
            n,
            _pk_vec() + [Field("arr", "ARRAY", {"max_capacity": 4}, element="INT64")],
            [FLAT],
            set(),
        ),
        [{"pk": 1, "v0": [0.5, 1.0], "arr": []}, {"pk": 2, "v0": [1.0, 0.5], "arr": [7]}],
    ),
    # F1: a VarChar key with a form feed / control character: the engine's key literal uses \f,
    # \uXXXX escapes that milvus-lite's filter parser refuses.
    "control_char_key": lambda n: (
        _plan(n, _pk_vec("VARCHAR"), [FLAT], set()),
        [{"pk": "a\fb", "v0": [0.5, 1.0]}, {"pk": "\x02", "v0": [1.0, 0.5]}, {"pk": "plain", "v0": [1.0, 1.0]}],
    ),
    # F3: NaN in a Double column (bits 0x7ff8000000000000, what Python writes) arrived on a lite
    # target as 0x7ff8000000000001 (Go's math.NaN()).
    "nan_double": lambda n: (
        _plan(n, _pk_vec() + [Field("d", "DOUBLE"), Field("f", "FLOAT")], [FLAT], set()),
        [
            {"pk": 1, "v0": [0.5, 1.0], "d": math.nan, "f": math.nan},
            {"pk": 2, "v0": [1.0, 0.5], "d": -math.inf, "f": math.inf},
            {"pk": 3, "v0": [1.0, 1.0], "d": -0.0, "f": -0.0},
        ],
    ),
    # F7: a duplicated key in _default of a collection with named partitions: the copy filed the
    # folded row under partition "" and the per-partition count check failed a correct copy.
    "fold_in_default": lambda n: (
        _plan_partitions(n, _pk_vec(), [FLAT], {"named_partitions"}, ["p1"]),
        [
            {"pk": 1, "v0": [0.5, 1.0]},
            {"pk": 2, "v0": [1.0, 0.5]},
            {"pk": 1, "v0": [0.5, 1.0]},
            {"pk": 3, "v0": [1.0, 1.0], PARTITION: "p1"},
        ],
    ),
    # Issue 12: a finished autoID migration (keys regenerated by the target) must re-run as a no-op.
    "autoid_rerun": lambda n: (
        _plan(n, [Field("pk", "INT64", primary=True, auto_id=True), Field("v0", "FLOAT_VECTOR", {"dim": 2})], [FLAT], {"auto_id"}),
        [{"v0": [0.5, 1.0]}, {"v0": [0.5, 1.0]}, {"v0": [1.0, 0.5]}],
    ),
    # Issue 12: milvus-lite reports HNSW without M/efConstruction and IVF_FLAT without nlist.
    "lite_hnsw": lambda n: (
        _plan(n, _pk_vec(), [Index("v0", "HNSW", "L2", {"M": 16, "efConstruction": 64}, "v0")], {"tuned_index"}),
        [{"pk": 1, "v0": [0.5, 1.0]}],
    ),
    "lite_ivf": lambda n: (
        _plan(n, _pk_vec(), [Index("v0", "IVF_FLAT", "L2", {"nlist": 16}, "v0")], {"tuned_index"}),
        [{"pk": 1, "v0": [0.5, 1.0]}],
    ),
    # Issue 12: milvus-lite drops the element max_length of a VarChar array.
    "lite_varchar_array": lambda n: (
        _plan(
            n,
            _pk_vec() + [Field("tags", "ARRAY", {"max_capacity": 4, "max_length": 8}, element="VARCHAR")],
            [FLAT],
            {"varchar_array"},
        ),
        [{"pk": 1, "v0": [0.5, 1.0], "tags": ["a", "bc"]}],
    ),
}


def write_case(client: MilvusClient, case: str, name: str, kind: str) -> dict[str, Any]:
    plan, rows = CASES[case](name)
    if client.has_collection(name):
        client.drop_collection(name)
    create(client, plan)
    ids = []
    for r in rows:
        r = dict(r)
        part = r.pop(PARTITION, "")
        ids.extend(client.insert(name, [r], partition_name=part)["ids"])
    index_and_load(client, plan)
    got = count(client, name)
    if got != len(rows):
        raise SystemExit(f"generate.py: case {case}: count(*) {got}, expected {len(rows)}")
    keys = [r["pk"] for r in rows if "pk" in r]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    live = len(set(keys)) if keys else len(rows)
    return {
        "name": name,
        "seed": 0,
        "index": 0,
        "case": case,
        "sourceKind": kind,
        "features": sorted(plan.features),
        "excluded": [],
        "pk": {"name": "pk", "type": plan.pk.dtype, "autoID": plan.pk.auto_id},
        "fields": [f.summary() for f in plan.fields],
        "indexes": [ix.__dict__ for ix in plan.indexes],
        "functionOutputs": [],
        "partitions": plan.partitions,
        "rows": {"inserted": len(rows), "duplicates": [str(k) for k in duplicates], "deleted": [], "liveKeys": live, "liveRows": len(rows)},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--uri", required=True)
    ap.add_argument("--token", default="")
    ap.add_argument("--source-kind", required=True)
    ap.add_argument("--target-kinds", required=True, help="comma-separated: the kinds this corpus goes to")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--case", default="", help=f"write one fixed regression case instead: {sorted(CASES)}")
    ap.add_argument("--collections", type=int, default=1)
    ap.add_argument("--first", type=int, default=0, help="index of the first collection (reproduce one)")
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--prefix", default="c")
    ap.add_argument("--exclude", default="")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dump-rows", default="", help="also write the rows as inserted (JSON lines) here")
    args = ap.parse_args()
    excluded = {e for e in args.exclude.split(",") if e}
    unknown = excluded - FEATURES
    if unknown:
        sys.exit(f"generate.py: unknown --exclude {sorted(unknown)} (known: {sorted(FEATURES)})")
    client = MilvusClient(uri=args.uri, token=args.token)
    out = []
    if args.case:
        out.append(write_case(client, args.case, f"{args.prefix}{args.case}", args.source_kind))
        with open(args.out, "w") as fh:
            json.dump(out, fh, indent=1, default=str)
        return
    for i in range(args.first, args.first + args.collections):
        started = time.time()
        name = f"{args.prefix}{args.seed}_{i}"
        draw = Draw(f"{args.seed}:{i}:{args.source_kind}")
        plan = draw_schema(draw, name, args.source_kind, args.target_kinds.split(","), excluded)
        # Huge vector components (±3.4e38) only where no index trains on them: faiss IVF on
        # milvus-lite aborts the whole server on them (a server defect, documented).
        tuned = any(ix.index_type.startswith("IVF") for ix in plan.indexes)
        lite_involved = "lite" in args.source_kind or "lite" in args.target_kinds
        huge = not (tuned and lite_involved) and draw.chance(0.3)
        n = draw.pick([0, 1, 17, args.rows // 2, args.rows, args.rows, args.rows])
        edges: dict[str, int] = {}
        rows = draw_rows(draw, plan, n, excluded, huge, edges)
        if any(json_bytes(plan, r) > 60000 for r in rows):
            # Milvus refuses a JSON value (or a row's dynamic fields) over 64 KiB; lite takes it.
            plan.features.add("json_over_64k")
        if client.has_collection(name):  # a re-run on the same server: start afresh
            try:  # 2.3.5 keeps an alias of a dropped collection and does not describe it
                client.drop_alias(f"{name}_alias")
            except Exception:
                pass
            client.drop_collection(name)
        create(client, plan)
        # Half of the collections are indexed before the rows arrive, half after.
        early = draw.chance(0.5)
        if early:
            index_and_load(client, plan)
        stats = write(draw, client, plan, rows, args.source_kind)
        if args.dump_rows:  # what was inserted, to tell a server's misread from a copy's
            with open(args.dump_rows, "a") as fh:
                for r in rows:
                    fh.write(json.dumps({"collection": name, **r}, default=repr) + "\n")
        if not early:
            index_and_load(client, plan)
        got = count(client, name)
        if got != stats["liveRows"]:
            raise SystemExit(f"generate.py: {name}: count(*) {got}, expected {stats['liveRows']} ({stats})")
        draw.close()
        out.append(
            {
                "name": name,
                "seed": args.seed,
                "index": i,
                "sourceKind": args.source_kind,
                "features": sorted(plan.features),
                "excluded": sorted(excluded),
                "pk": {"name": "pk", "type": plan.pk.dtype, "autoID": plan.pk.auto_id},
                "fields": [f.summary() for f in plan.fields],
                "dynamic": plan.dynamic,
                "partitions": plan.partitions,
                "aliases": plan.aliases,
                "indexes": [ix.__dict__ for ix in plan.indexes],
                "functionOutputs": [plan.bm25[1]] if plan.bm25 else [],
                "hugeVectors": huge,
                "edges": edges,
                "rows": stats,
                "seconds": round(time.time() - started, 2),
            }
        )
        print(f"generate.py: {name} {len(plan.fields)} fields, {stats}", file=sys.stderr, flush=True)
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
