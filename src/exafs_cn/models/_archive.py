"""Model files as arrays and JSON: a zip of ``model.json`` and ``.npy`` arrays, never code.

A pickle (or joblib) file runs whatever its author put in it when it is loaded, and model
files are what people hand each other. Here an object is written as JSON that names its
class and gives its pickle state (``__reduce_ex__``) as JSON values and numbered arrays;
reading builds only classes in the allow-list it is given, each the way pickle would
(``cls.__new__`` and ``__setstate__``, or ``cls(*args)`` for the few that reduce to a
constructor call, such as scikit-learn's ``Tree``), and reads arrays with
``allow_pickle=False``. Every class the file names is checked against the list before
anything is built.

Why not skops, which does the same for all of scikit-learn: ``import skops.io`` scans
every scikit-learn estimator to make its default trust list (3 s of a 9 s first answer
where torch is installed, 0.9 s where it is not), and a trust list of all of
scikit-learn is wider than the dozen classes our models are made of.

What reading guarantees is limited to that: a class outside the list is never built and
nothing runs but the listed classes' own ``__setstate__``. Values inside (a tree's child
indices) are checked by :func:`exafs_cn.models._checks.check_estimator`.
"""

from __future__ import annotations

import copyreg
import importlib
import io
import json
import math
import os
import re
import zipfile
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

import numpy as np

from exafs_cn.exceptions import ArchiveError, NotAnArchiveError, one_line
from exafs_cn.regular_files import NotRegularFileError, describe_size, open_regular

#: Largest model file, largest ``model.json`` and largest total we unpack. A shipped file is
#: 1-3 MB packed and at most 5 MB unpacked; a forest trained with `--trees 1000 --min-leaf 1`
#: on the whole dataset stays below 200 MB. A crafted file must not make a prediction hold
#: gigabytes.
MAX_FILE_BYTES = 512 * 2**20
MAX_JSON_BYTES = 64 * 2**20
MAX_UNPACKED_BYTES = 512 * 2**20
#: Deepest nesting of values read back (our estimators nest a few levels; a crafted file
#: nested 10,000 deep must not exhaust the stack).
MAX_DEPTH = 64
_ARRAY_NAME = re.compile(r"^[0-9]{1,9}\.npy$")


def type_name(kind: type) -> str:
    """``module.QualifiedName`` of a class, the name an archive records."""
    return f"{kind.__module__}.{kind.__qualname__}"


def dump(obj: object, path: Path | str, allowed: Collection[str]) -> None:
    """Write ``obj`` to ``path`` (not atomically: the caller renames), refusing any class
    outside ``allowed`` with ArchiveError naming it.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn.preprocessing import StandardScaler
    >>> scaler = StandardScaler().fit([[0.0], [2.0]])
    >>> path = Path(tempfile.mkdtemp()) / "scaler.zip"
    >>> dump({"scaler": scaler}, path, allowed={"sklearn.preprocessing._data.StandardScaler"})
    >>> load(path, allowed={"sklearn.preprocessing._data.StandardScaler"})["scaler"].mean_
    array([1.])
    """
    arrays: list[np.ndarray] = []
    document = json.dumps(_encode(obj, arrays, frozenset(allowed), 0), allow_nan=False, separators=(",", ":"))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("model.json", document)
        for number, array in enumerate(arrays):
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            archive.writestr(f"{number}.npy", buffer.getvalue())


def class_names(path: Path | str) -> set[str]:
    """Every class the archive in ``path`` names, read without building anything."""
    document, _ = _open(path, frozenset())
    return set(_named_classes(document))


def load(
    path: Path | str,
    allowed: Collection[str],
    guards: dict[str, Callable] | None = None,
    renamed: Mapping[str, str] | None = None,
    skip: Collection[str] = (),
) -> object:
    """The object in ``path``, built from classes in ``allowed`` only.

    ``guards`` maps a class name to a check of its constructor arguments, called before a
    class that reduces to a constructor call is called (scikit-learn's ``Tree`` trusts
    its arguments). ``renamed`` maps a class name older files hold to the allowed name of
    the same class today (a class that moved module). ``skip``: keys of the top-level mapping
    left out, neither decoded nor their arrays read (a model's estimator, where only its
    description is needed). NotAnArchiveError for a file that is no archive, ArchiveError for
    one that names another class or whose values do not decode.
    """
    renamed = dict(renamed or {})
    document, arrays = _open(path, frozenset(skip))
    refused = {renamed.get(name, name) for name in _named_classes(document)} - set(allowed)
    if refused:
        raise ArchiveError(f"it holds types exafs-cn never writes ({', '.join(sorted(refused))})")
    return _Decoder(arrays, frozenset(allowed), guards or {}, renamed).decode(document, 0)


def _open(path: Path | str, skip: frozenset[str]) -> tuple[object, Callable[[int], np.ndarray]]:
    """The decoded ``model.json`` (less the top-level entries ``skip`` names) and a reader of
    numbered arrays; size checks first.

    Only a regular file of bounded size is opened, and an array member is unpacked only when
    the document refers to it: a member nothing refers to costs nothing but its size check.
    """
    try:
        fd = open_regular(path, MAX_FILE_BYTES)
    except NotRegularFileError as exc:
        raise NotAnArchiveError(str(exc)) from None
    handle = os.fdopen(fd, "rb")
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        handle.close()
        raise NotAnArchiveError(f"not a model archive ({type(exc).__name__}: {one_line(exc, 80)})") from None
    with handle, archive:
        infos = {info.filename: info for info in archive.infolist()}
        if "model.json" not in infos or not all(name == "model.json" or _ARRAY_NAME.match(name) for name in infos):
            raise NotAnArchiveError("not a model archive (no model.json, or members that are not numbered arrays)")
        unpacked = sum(info.file_size for info in infos.values())
        if unpacked > MAX_UNPACKED_BYTES:
            raise ArchiveError(f"unpacks to {describe_size(unpacked)}, more than the {describe_size(MAX_UNPACKED_BYTES)} a model needs")
        if infos["model.json"].file_size > MAX_JSON_BYTES:
            raise ArchiveError(f"its model.json is larger than {MAX_JSON_BYTES // 2**20} MB")
        try:
            document = _without(json.loads(archive.read("model.json")), skip)
            referenced = _referenced_arrays(document)
            arrays = {number: archive.read(f"{number}.npy") for number in referenced if f"{number}.npy" in infos}
        except (
            zipfile.BadZipFile,
            json.JSONDecodeError,
            UnicodeDecodeError,
            RecursionError,
            OSError,
            EOFError,
            ValueError,
        ) as exc:
            raise NotAnArchiveError(f"not a readable model archive ({type(exc).__name__}: {one_line(exc, 80)})") from None

    def array(number: object) -> np.ndarray:
        if not isinstance(number, int) or number not in arrays:
            raise ArchiveError(f"it refers to an array {number!r} it does not hold")
        try:
            return np.load(io.BytesIO(arrays[number]), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ArchiveError(f"array {number} is not a plain numpy array ({one_line(exc, 80)})") from None

    return document, array


def _without(document: object, skip: frozenset[str]) -> object:
    """``document`` less the entries of its top-level mapping whose keys ``skip`` names."""
    if not skip:
        return document
    if not (isinstance(document, dict) and list(document) == ["dict"] and isinstance(document["dict"], list)):
        raise ArchiveError("its top level is not a mapping, whose entries could be left out")
    return {"dict": [pair for pair in document["dict"] if not (isinstance(pair, list) and pair and isinstance(pair[0], str) and pair[0] in skip)]}


def _referenced_arrays(document: object) -> set[int]:
    """The numbers of the arrays a decoded ``model.json`` refers to."""
    found: set[int] = set()
    for node in _mappings(document):
        if len(node) == 1:
            ((form, content),) = node.items()
            if form in ("array", "scalar") and type(content) is int:
                found.add(content)
    return found


def _mappings(document: object):
    """Every JSON object in a decoded ``model.json``; iterative, whatever its depth."""
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _named_classes(document: object):
    """Every class name in a decoded ``model.json``."""
    for node in _mappings(document):
        for key in ("object", "type", "generator"):
            if isinstance(node.get(key), str):
                yield node[key]


# The JSON forms: plain JSON for None, bools, ints, finite floats and text; one-key objects
# for the rest, so that a dict of ours can never be mistaken for one of them.
def _encode(value: object, arrays: list[np.ndarray], allowed: frozenset[str], depth: int) -> object:
    if depth > MAX_DEPTH:
        raise ArchiveError(f"values nested deeper than {MAX_DEPTH}")
    if value is None or isinstance(value, (bool, str)) or type(value) is int:
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        if value.dtype.hasobject:
            raise ArchiveError("an array of Python objects cannot be stored")
        arrays.append(np.asarray(value))
        return {"array" if isinstance(value, np.ndarray) else "scalar": len(arrays) - 1}
    if isinstance(value, np.dtype):
        return {"dtype": np.lib.format.dtype_to_descr(value)}
    if isinstance(value, (list, tuple)):
        items = [_encode(item, arrays, allowed, depth + 1) for item in value]
        return {"list" if isinstance(value, list) else "tuple": items}
    if type(value) is dict:
        return {
            "dict": [[_encode(k, arrays, allowed, depth + 1), _encode(v, arrays, allowed, depth + 1)] for k, v in value.items()]
        }
    if isinstance(value, np.random.Generator):
        # Pickle rebuilds a Generator through a numpy helper function; stored here as its bit
        # generator's class and state (a dict of ints), rebuilt from those.
        bits = value.bit_generator
        if type_name(type(bits)) not in allowed:
            raise ArchiveError(f"the bit generator {type_name(type(bits))} is not in the allowed list")
        return {"generator": type_name(type(bits)), "state": _encode(bits.state, arrays, allowed, depth + 1)}
    if isinstance(value, type):
        if type_name(value) not in allowed:
            raise ArchiveError(f"the type {type_name(value)} is not in the allowed list")
        return {"type": type_name(value)}
    return _encode_object(value, arrays, allowed, depth)


def _encode_object(value: object, arrays: list[np.ndarray], allowed: frozenset[str], depth: int) -> dict:
    name = type_name(type(value))
    if name not in allowed:
        raise ArchiveError(f"{name} is not in the allowed list")
    reduced = value.__reduce_ex__(4)
    if not isinstance(reduced, tuple) or len(reduced) < 2 or any(part is not None for part in reduced[3:]):
        raise ArchiveError(f"{name} does not reduce to a class and a state")
    call, args, state = reduced[0], reduced[1], reduced[2] if len(reduced) > 2 else None
    if call is copyreg.__newobj__ and args and args[0] is type(value):
        form = {"object": name, "new": _encode(list(args[1:]), arrays, allowed, depth + 1)}
    elif call is type(value):
        form = {"object": name, "call": _encode(list(args), arrays, allowed, depth + 1)}
    elif getattr(call, "__name__", "").startswith("__pyx_unpickle_") and args[:1] == (type(value),) and args[2:] == ((),):
        # A Cython class without state (scikit-learn's loss functions): its constructor
        # without arguments rebuilds it.
        form = {"object": name, "call": {"list": []}}
    else:
        raise ArchiveError(f"{name} reduces to {getattr(call, '__qualname__', call)!r}, not to its own class")
    if state is not None:
        form["state"] = _encode(state, arrays, allowed, depth + 1)
    return form


class _Decoder:
    def __init__(self, array: Callable[[int], np.ndarray], allowed: frozenset[str], guards: dict[str, Callable], renamed: dict[str, str]):
        self.array, self.allowed, self.guards, self.renamed = array, allowed, guards, renamed

    def decode(self, node: object, depth: int) -> object:
        if depth > MAX_DEPTH:
            raise ArchiveError(f"values nested deeper than {MAX_DEPTH}")
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or not node:
            raise ArchiveError(f"a value of the form {type(node).__name__} is not one this format writes")
        if "object" in node:
            return self._object(node, depth)
        if "generator" in node:
            return self._generator(node, depth)
        if len(node) != 1:
            raise ArchiveError(f"a value with the keys {sorted(node)[:4]} is not one this format writes")
        ((form, content),) = node.items()
        if form in ("list", "tuple") and isinstance(content, list):
            items = [self.decode(item, depth + 1) for item in content]
            return items if form == "list" else tuple(items)
        if form == "dict" and isinstance(content, list):
            pairs = [self._pair(item, depth) for item in content]
            return dict(pairs)
        if form == "array":
            return self.array(content)
        if form == "scalar":
            return self.array(content)[()]
        if form == "float" and content in ("nan", "inf", "-inf"):
            return float(content)
        if form == "dtype":
            try:
                return np.lib.format.descr_to_dtype(content)
            except (TypeError, ValueError) as exc:
                raise ArchiveError(f"dtype {content!r} is not one numpy reads ({one_line(exc, 60)})") from None
        if form == "type":
            return self._class(content)
        raise ArchiveError(f"a value of the form {form!r} is not one this format writes")

    def _pair(self, item: object, depth: int) -> tuple:
        if not (isinstance(item, list) and len(item) == 2):
            raise ArchiveError("a mapping entry is not a key and a value")
        key = self.decode(item[0], depth + 1)
        try:
            hash(key)
        except TypeError:
            raise ArchiveError("a mapping key is not hashable") from None
        return key, self.decode(item[1], depth + 1)

    def _class(self, name: object) -> type:
        name = self.renamed.get(name, name) if isinstance(name, str) else name
        if not isinstance(name, str) or name not in self.allowed:
            raise ArchiveError(f"it holds types exafs-cn never writes ({name!r})")
        module, _, qualname = name.rpartition(".")
        try:
            found = getattr(importlib.import_module(module), qualname)
        except (ImportError, AttributeError) as exc:
            if isinstance(exc, ModuleNotFoundError):
                raise
            raise ArchiveError(f"{name} does not exist in this installation") from None
        if not isinstance(found, type):
            raise ArchiveError(f"{name} is not a class")
        return found

    def _generator(self, node: dict, depth: int) -> np.random.Generator:
        bits = self._class(node["generator"])
        if set(node) != {"generator", "state"} or not issubclass(bits, np.random.BitGenerator):
            raise ArchiveError("a random generator entry is not one this format writes")
        state = self.decode(node["state"], depth + 1)
        try:
            generator = bits()
            generator.state = state
        except (TypeError, ValueError, KeyError) as exc:
            raise ArchiveError(f"a random generator's state is not one numpy takes ({one_line(exc, 80)})") from None
        return np.random.Generator(generator)

    def _object(self, node: dict, depth: int) -> object:
        kind = self._class(node["object"])
        name = self.renamed.get(node["object"], node["object"])
        if set(node) - {"object", "new", "call", "state"} or ("new" in node) == ("call" in node):
            raise ArchiveError(f"the entry for {name} is not one this format writes")
        args = self.decode(node.get("new", node.get("call")), depth + 1)
        if not isinstance(args, list):
            raise ArchiveError(f"the arguments of {name} are not a list")
        if "call" in node and name in self.guards:
            self.guards[name](*args)  # its own error: the caller's checks name what is wrong
        state = self.decode(node["state"], depth + 1) if "state" in node else None
        try:
            obj = kind.__new__(kind, *args) if "new" in node else kind(*args)
            if "state" in node:
                _set_state(obj, state)
        except ArchiveError:
            raise
        except Exception as exc:  # a listed class that refuses its stored state
            raise ArchiveError(
                f"{name} cannot be built from its stored state ({type(exc).__name__}: {one_line(exc, 80)})"
            ) from None
        return obj


def _set_state(obj: object, state: object) -> None:
    """As pickle does: ``__setstate__`` where the class has one, else the instance dict."""
    setstate = getattr(obj, "__setstate__", None)
    if setstate is not None:
        setstate(state)
    elif isinstance(state, dict):
        obj.__dict__.update(state)
    else:
        raise ArchiveError(f"{type_name(type(obj))} has no __setstate__ and its state is not a mapping")
