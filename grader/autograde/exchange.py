"""Plain data from the student's kernel to the test kernel (copied into each sandbox as ``/hw8/boot/hw8_exchange.py``).

Tests never run in the process that ran a student's code. Before each test cell, the student's kernel calls
:func:`export` with the names that test reads (the grader derives them from the test's source); the test kernel,
which never ran student code, calls :func:`load` with the same names and then runs the test. What crosses is
plain data, written by the untrusted side and read defensively by the trusted side:

========================================  ==================================================================
value in the student's kernel             in the test kernel
========================================  ==================================================================
None, bool, int, float, complex, str,     the same (JSON; NaN/inf kept)
bytes
list, tuple, set, frozenset, dict         the same containers (keys and items converted recursively)
numpy array or scalar (no object dtype)   the same (``.npy`` written and read with ``allow_pickle=False``)
torch tensor                              a CPU tensor of the same values (through numpy)
one of ``starter_code``'s sample models   the same class, built by the test kernel from the weights' shapes,
(fcn, cnn, vae: exact class)              the weights loaded (``.npz``, ``allow_pickle=False``), eval mode
pathlib path                              ``pathlib.Path``
dataclass instance of ``starter_code``    rebuilt with its class's constructor from converted fields
module, function or class                 never sent: if the release's own cells import that name
                                          (``import numpy as np``, ``from starter_code import reconstruct``),
                                          the test kernel imports the same itself; otherwise a placeholder
anything else (a model, a student's       a placeholder that raises a clear error when a test uses it
function, a generator, ...)
a name the notebook had not set           not defined (the test gets Python's own NameError)
========================================  ==================================================================

Nothing is ever unpickled, the test kernel decides which names it reads (a manifest cannot add others), and no
code is chosen by the student: not a module, not a function, not a class to construct outside ``starter_code``. A
sample model crosses as weights only: the test kernel runs ``starter_code``'s own class on them, so the numbers a
test computes with it come from no code of the student's.

The grader's own names (:data:`GRADER_NAMES`) never come from the student: ``secret_probes`` is read from the
folder the grader fills after the student's kernel is gone (``probes.py``), or stays undefined. The **probe step**
(:func:`probe_step`, run by the grader's own cell in the student's kernel after the notebook's last cell) calls the
notebook's functions named in ``starter_code.notebook.PROBE_FUNCTIONS`` on the grader's images and writes what they
return the same way; the test kernel reads it through :meth:`SecretProbes.returned` and judges it against the
labels. This module imports only the standard library (numpy and torch where an array, a tensor or a model is
converted; ``starter_code.notebook`` in the student's kernel, for the functions' names).
"""
from __future__ import annotations

import base64
import dataclasses
import importlib
import json
import keyword
import math
import os
import pathlib
import re
import sys
import types

#: Packages whose dataclasses the test kernel rebuilds from a student's fields (the course's own library).
DATACLASS_PACKAGES = ("starter_code",)
MAX_DEPTH = 40
MAX_NODES = 500_000
MAX_MANIFEST_BYTES = 64 << 20
_ARRAY_FILE = re.compile(r"^a\d{1,9}\.npy$")
_WEIGHTS_FILE = re.compile(r"^m\d{1,9}\.npz$")
#: Names a test reads from the grader, never from the student's export.
GRADER_NAMES = ("secret_probes",)
#: The folder, inside the export folder, that the grader fills for the test kernel once the student's kernel is gone,
#: and its two files (``probes.py`` writes them).
GRADER_FOLDER, PROBES_FILE, PROBES_META = "grader", "probes.npz", "probes.json"
#: The probe step's files: in the folder the grader makes for it (``probe-<random>``, inside the export folder), the
#: images (no labels) and the request (which functions, with which arguments); the student's answers in ``out``.
PROBE_IMAGES, PROBE_REQUEST, PROBE_OUT = "images.npy", "request.json", "out"
#: The outcome of the probe step as the grader saw it (``execute.py``), in ``probes.json``: ``ran`` (the cell
#: finished), ``timeout``, ``died`` (the kernel was dead or died), ``skipped`` (no probe step in this grading).
PROBE_OUTCOMES = ("ran", "timeout", "died", "skipped")
#: starter_code's sample models, which cross to the test kernel as their weights: class -> kind.
SAMPLE_MODELS = {"starter_code.models.conv.ConvAutoencoder": "cnn", "starter_code.models.fcn.FCNAutoencoder": "fcn",
                 "starter_code.models.vae.VAE": "vae"}
MAX_WEIGHTS_BYTES = 256 << 20
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class NotPlainData(TypeError):
    """A test used a value that could not leave the student's process."""


class Unavailable:
    """Stands for a value of the student's notebook that is not plain data; any use raises :class:`NotPlainData`."""
    __slots__ = ("_hw8_message",)

    def __init__(self, name: str, type_name: str, why: str = ""):
        msg = (f"`{name}` could not be read as plain data from your notebook's export" if type_name == "unreadable"
               else f"`{name}` is a {type_name} object from your notebook. Tests run in a separate process that "
                    f"receives only plain data (numbers, strings, lists, dicts, numpy arrays, files your notebook "
                    f"wrote)")
        object.__setattr__(self, "_hw8_message", msg + (f": {why}" if why else ""))

    def _fail(self, *_a, **_k):
        raise NotPlainData(object.__getattribute__(self, "_hw8_message"))

    def __getattr__(self, _name):
        self._fail()

    def __repr__(self) -> str:
        return f"<not available to the tests: {object.__getattribute__(self, '_hw8_message')}>"

    __call__ = __getitem__ = __setitem__ = __iter__ = __len__ = __bool__ = __contains__ = _fail
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _fail
    __lt__ = __le__ = __gt__ = __ge__ = __neg__ = __abs__ = __float__ = __int__ = __index__ = __array__ = _fail


class SecretProbes:
    """The grader's probe set, in the test kernel only (``probes.py`` draws it from the grading data): ``images``
    uint8 ``(P, 64, 64, 3)``, ``labels`` int8 ``(P,)`` (1 = anomaly, never in the student's kernel), ``rows``
    ``(P,)`` (the grading test row of each probe), ``strata`` int8 ``(P,)`` where the assignment's ranking is also
    judged among probes alike in their pixel statistics (``probes.match_strata``; None elsewhere), and the bars set
    by the reference solution on these probes: ``max_face_error`` (on :meth:`face_error`), ``min_auc`` (on
    :meth:`auc`; None where the assignment's tests judge no ranking) and ``min_matched_auc`` (on
    :meth:`matched_auc`; None where there are no strata). :meth:`check_ranking` asserts both."""

    def __init__(self, folder: str):
        import numpy as np
        with np.load(os.path.join(folder, PROBES_FILE), allow_pickle=False) as z:
            self.images, self.labels, self.rows = z["images"], z["labels"], z["rows"]
            self.strata = z["strata"] if "strata" in z.files else None
        with open(os.path.join(folder, PROBES_META), encoding="utf-8") as f:
            meta = json.load(f)
        self.min_auc = float(meta["min_auc"]) if "min_auc" in meta else None
        self.reference_auc = float(meta["reference_auc"])
        self.min_matched_auc = float(meta["min_matched_auc"]) if "min_matched_auc" in meta else None
        self.max_face_error = float(meta["max_face_error"])
        self.reference_face_error = float(meta["reference_face_error"])
        #: What the probe step asked for (role -> arguments, see :func:`probe_step`), and how it ended.
        self.request = meta.get("request") or {}
        step = meta.get("probe_step") or {}
        self.outcome, self.timeout = step.get("outcome", "skipped"), step.get("timeout")
        self._returned_dir = os.path.join(os.path.dirname(folder), step["out"]) if step.get("out") else None
        self._returned = None

    # -- what the student's functions returned in the probe step ------------------------------------------------
    def _load_returned(self) -> dict:
        if self._returned is None:
            self._returned = {}
            if self._returned_dir is not None:
                try:
                    manifest = os.path.join(self._returned_dir, "manifest.json")
                    if os.path.getsize(manifest) > MAX_MANIFEST_BYTES:
                        raise ValueError("too large")
                    with open(manifest, encoding="utf-8") as f:
                        found = json.load(f)
                    self._returned = found if isinstance(found, dict) else {}
                except (OSError, ValueError, RecursionError):
                    self._returned = {}
        return self._returned

    def returned(self, name: str):
        """The value the notebook's function ``name`` returned in the probe step (plain data: numpy arrays,
        lists, numbers), or an :class:`AssertionError` that says why there is none: not defined, raised, returned
        something that is not plain data, or the step did not finish (timeout, the kernel died)."""
        if self.outcome == "timeout":
            raise AssertionError(f"the autograder's call of your `{name}` did not finish within the cell time "
                                 f"limit ({self.timeout} s)")
        if self.outcome == "died":
            raise AssertionError(f"the autograder could not call your `{name}`: the notebook's kernel was dead "
                                 f"(a cell above crashed it, or `{name}` did)")
        if self.outcome != "ran" or self._returned_dir is None:
            raise AssertionError(f"no probe step in this grading: the tests that call `{name}` need the course's "
                                 f"autograder")
        node = self._load_returned().get(name)
        if not isinstance(node, dict):
            raise AssertionError(f"the autograder got nothing back from your `{name}`")
        if node.get("t") == "error":
            raise AssertionError(str(node.get("why", f"your `{name}` failed"))[:500])
        try:
            return _Decoder(self._returned_dir).decode(node)
        except Exception as e:  # noqa: BLE001 - malformed output is the student's failed test
            raise AssertionError(f"what your `{name}` returned could not be read: {type(e).__name__}: "
                                 f"{str(e)[:200]}") from None

    def returned_scores(self, name: str):
        """``returned(name)`` as float64 ``(P,)``: one finite score per probe image, or an :class:`AssertionError`
        that says what is wrong with it."""
        import numpy as np
        value = self.returned(name)
        try:
            scores = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise AssertionError(f"your `{name}` must return numbers, got {type(value).__name__} ({e})") from None
        if scores.shape != self.labels.shape:
            raise AssertionError(f"your `{name}` got {len(self)} images and must return {len(self)} scores (shape "
                                 f"({len(self)},)), got shape {scores.shape}")
        if not np.isfinite(scores).all():
            raise AssertionError(f"your `{name}` returned NaN or infinite scores for "
                                 f"{int((~np.isfinite(scores)).sum())} of {len(self)} images")
        return scores

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return f"<{len(self)} secret probes>"

    def _checked(self, scores):
        import numpy as np
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != self.labels.shape:
            raise ValueError(f"expected {len(self)} scores, got shape {scores.shape}")
        if not np.isfinite(scores).all():
            raise ValueError("the scores hold NaN or infinite values")
        return scores

    def face_error(self, scores) -> float:
        """The median of ``scores`` ``(P,)`` over the normal faces: a reconstruction error when the scores are."""
        import numpy as np
        return float(np.median(self._checked(scores)[self.labels == 0]))

    def auc(self, scores) -> float:
        """ROC-AUC of ``scores`` ``(P,)`` (higher = more anomalous) against the labels, over all pairs."""
        return matched_auc(self.labels, self._checked(scores))

    def matched_auc(self, scores) -> float:
        """ROC-AUC of ``scores`` ``(P,)`` within ``strata`` (:func:`matched_auc`): only the pairs of an anomaly and a
        normal face whose pixel statistics make them look alike count."""
        if self.strata is None:
            raise ValueError("these probes have no strata")
        return matched_auc(self.labels, self._checked(scores), self.strata)

    def check_ranking(self, scores, name: str = "score_images") -> None:
        """Assert that ``scores`` (what the notebook's ``name`` returned) clear the ranking bars: ``min_auc`` over all
        pairs and, where there are strata, ``min_matched_auc`` within them. Returns None: a number that ends a test
        cell's output is nbgrader's partial credit."""
        auc = self.auc(scores)
        if not auc >= self.min_auc:
            raise AssertionError(f"on the grading images your {name}' ROC-AUC is {auc:.3f}, below the bar "
                                 f"{self.min_auc:.3f} (the reference solution's {self.reference_auc:.3f} less a "
                                 f"margin)")
        if self.strata is not None:
            matched = self.matched_auc(scores)
            if not matched >= self.min_matched_auc:
                raise AssertionError(f"on the grading images your {name}' ROC-AUC among images alike in their pixel "
                                     f"statistics is {matched:.3f}, below the bar {self.min_matched_auc:.3f}")


def matched_auc(labels, scores, strata=None) -> float:
    """ROC-AUC of ``scores`` against ``labels`` (1 = anomaly) in its Mann-Whitney form: the share of (anomaly,
    normal) pairs the anomaly scores higher, a tie counting half, as ``grader.metrics`` computes the leaderboard's
    metric. With ``strata`` ``(P,)``, only the pairs within one stratum count: there a score that is a function of
    the statistics the strata were cut on ranks near chance, whatever it does across strata.

    SciPy's U, not scikit-learn's metric (the grader's package is not in a sandbox, and scikit-learn's import warns
    on stderr there: no shared-memory semaphores, and nbgrader fails a test cell that writes to stderr)."""
    import numpy as np
    from scipy.stats import mannwhitneyu
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    groups = [np.ones(len(labels), bool)] if strata is None else [strata == s for s in np.unique(strata)]
    u = pairs = 0.0
    for g in groups:
        pos, neg = scores[g & (labels == 1)], scores[g & (labels == 0)]
        if len(pos) and len(neg):
            u += float(mannwhitneyu(pos, neg).statistic)
            pairs += len(pos) * len(neg)
    if not pairs:
        raise ValueError("no stratum holds both an anomaly and a normal face")
    return u / pairs


def _sample_model_kwargs(kind: str, shapes: dict) -> dict:
    """The constructor's arguments of a sample model of ``kind``, from its weights' shapes (name -> shape)."""
    def outs(prefix: str) -> tuple[int, ...]:
        """Output sizes of the layers ``prefix.N`` in N order."""
        found = []
        for k, shape in shapes.items():
            parts = k.split(".")
            if len(parts) == 3 and parts[0] == prefix and parts[1].isdigit() and parts[2] == "weight":
                found.append((int(parts[1]), int(shape[0])))
        return tuple(o for _, o in sorted(found))

    if kind == "cnn":
        return {"channels": outs("encoder")}
    if kind == "fcn":
        enc = outs("encoder")
        return {"hidden": enc[:-1], "latent_dim": enc[-1]}
    c1, c2 = outs("encoder")
    (c3,) = outs("enc_out_1")
    return {"channels": (c1, c2, c3)}


def _type_name(obj) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}" if t.__module__ not in ("builtins", "__main__") else t.__qualname__


def _trusted(module: str) -> bool:
    return isinstance(module, str) and bool(_DOTTED.match(module)) and module.split(".")[0] in DATACLASS_PACKAGES


# --- the student's side ------------------------------------------------------------------------------------------

class _Encoder:
    def __init__(self, folder: str):
        self.folder, self.files, self.nodes = folder, 0, 0

    def _save(self, arr) -> str:
        import numpy as np
        name = f"a{self.files}.npy"
        self.files += 1
        np.save(os.path.join(self.folder, name), arr, allow_pickle=False)
        return name

    def _model(self, model) -> dict:
        import numpy as np
        cls = type(model)
        path = f"{cls.__module__}.{cls.__qualname__}"
        if path not in SAMPLE_MODELS:
            raise ValueError(f"a {path}: of the models, only starter_code's sample models (build_model('fcn' | "
                             f"'cnn' | 'vae'), not a subclass) reach the tests, as their weights")
        name = f"m{self.files}.npz"
        self.files += 1
        np.savez(os.path.join(self.folder, name),
                 **{k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()})
        return {"t": "model", "class": path, "f": name,
                "sample_at_eval": bool(getattr(model, "sample_at_eval", True))}

    def encode(self, x, depth: int = 0):
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise ValueError("nested too deeply or too large")
        if x is None or isinstance(x, (bool, str)) or type(x) is int:
            return {"t": "v", "v": x}
        if type(x) is float:
            return {"t": "v", "v": x} if math.isfinite(x) else {"t": "float", "v": repr(x)}
        if type(x) is complex:
            return {"t": "complex", "v": [repr(x.real), repr(x.imag)]}
        if isinstance(x, (bytes, bytearray)):
            return {"t": "bytes", "v": base64.b64encode(bytes(x)).decode("ascii")}
        if isinstance(x, pathlib.PurePath):
            return {"t": "path", "v": str(x)}
        np = sys.modules.get("numpy")
        if np is not None and isinstance(x, (np.ndarray, np.generic)):
            arr = np.asarray(x)
            if arr.dtype.hasobject:
                raise ValueError("a numpy array of Python objects")
            return {"t": "ndarray" if isinstance(x, np.ndarray) else "npscalar", "f": self._save(arr)}
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(x, torch.Tensor):
            t = x.detach().cpu()
            if t.dtype == torch.bfloat16:
                t = t.float()
            return {"t": "tensor", "f": self._save(t.numpy())}
        if isinstance(x, (list, tuple, set, frozenset)):
            kind = ("tuple" if isinstance(x, tuple) else "frozenset" if isinstance(x, frozenset)
                    else "set" if isinstance(x, set) else "list")
            return {"t": kind, "v": [self.encode(v, depth + 1) for v in x]}
        if isinstance(x, dict):
            return {"t": "dict", "k": [self.encode(k, depth + 1) for k in x],
                    "v": [self.encode(v, depth + 1) for v in x.values()]}
        if torch is not None and isinstance(x, torch.nn.Module):
            return self._model(x)
        if isinstance(x, (types.ModuleType, type)) or callable(x):
            return {"t": "code", "type": _type_name(x)}
        if dataclasses.is_dataclass(x):
            cls = type(x)
            if cls.__module__ == "__main__":
                raise ValueError("a dataclass defined in the notebook")
            return {"t": "dataclass", "module": cls.__module__, "qualname": cls.__qualname__,
                    "fields": {f.name: self.encode(getattr(x, f.name), depth + 1)
                               for f in dataclasses.fields(x) if f.init}}
        raise ValueError("not plain data")


def export(step: int, names, ns: dict | None = None, folder: str = "/hw8/export") -> None:
    """Write the values of ``names`` in ``ns`` (default: the caller's globals) for test ``step``."""
    ns = sys._getframe(1).f_globals if ns is None else ns
    folder = os.path.join(folder, str(int(step)))
    os.makedirs(folder, exist_ok=True)
    enc = _Encoder(folder)
    out = {}
    for name in names:
        if name in GRADER_NAMES:
            continue
        if name not in ns:
            out[name] = {"t": "missing"}
            continue
        value = ns[name]
        try:
            out[name] = enc.encode(value)
        except Exception as e:  # noqa: BLE001 - anything the student's value does is the student's problem
            out[name] = {"t": "unavailable", "type": _type_name(value), "why": str(e)[:200]}
    tmp = os.path.join(folder, "manifest.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(out, f)
    os.replace(tmp, os.path.join(folder, "manifest.json"))


def _plain_result(role: str, value):
    """The value a probe-step function returned, as plain data for its role (numpy arrays), or ValueError."""
    import numpy as np

    def array(x, dtype=None):
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(x, torch.Tensor):
            x = x.detach().cpu().float().numpy()
        a = np.asarray(x) if dtype is None else np.asarray(x, dtype=dtype)
        if a.dtype.hasobject:
            raise ValueError(f"not an array of numbers ({type(x).__name__})")
        return a

    if role in ("score", "ae_score", "clf_score"):
        return array(value, np.float64)
    if role == "encoders":
        if isinstance(value, dict):
            value = list(value.values())
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"expected a list (or dict) of one array per encoder, got {type(value).__name__}")
        return [array(v, np.float32) for v in value]
    if role == "anomalies":
        return [array(v) for v in value]
    return array(value)


def probe_step(folder: str, ns: dict | None = None) -> None:
    """The grader's cell in the student's kernel, after the notebook's last cell (``execute.py``).

    ``folder`` holds the grading images (``images.npy``, uint8 ``(P, 64, 64, 3)``, no labels) and the request
    (``request.json``: role -> arguments); each requested function of the notebook (``ns``, by its name in
    ``starter_code.notebook.PROBE_FUNCTIONS``) is called on copies of those images and what it returns is written
    as plain data to ``folder/out`` (``manifest.json``: name -> value, or ``{"t": "error", "why": ...}``). Nothing
    here is trusted: the tests judge the numbers against labels this kernel never had.
    """
    import numpy as np

    from starter_code.notebook import PROBE_FUNCTIONS
    ns = sys._getframe(1).f_globals if ns is None else ns
    images = np.load(os.path.join(folder, PROBE_IMAGES), allow_pickle=False)
    with open(os.path.join(folder, PROBE_REQUEST), encoding="utf-8") as f:
        request = json.load(f)
    out = os.path.join(folder, PROBE_OUT)
    enc = _Encoder(out)
    results = {}
    for role, args in request.items():
        name = PROBE_FUNCTIONS[role]
        fn = ns.get(name)
        if not callable(fn):
            results[name] = {"t": "error", "why": f"the autograder calls your function `{name}`, which is not "
                             f"defined in your notebook" + ("" if name not in ns else f" (`{name}` is a "
                                                                                  f"{type(fn).__name__})")}
            continue
        n = int(args.get("images", len(images)))
        try:
            if role == "anomalies":
                faces = np.array(images[:n])
                value = [fn(faces, seed=int(args["seed"])), fn(faces, seed=int(args["seed"])),
                         fn(faces, seed=int(args["seed"]) + 1), faces]
            elif role == "latent":
                value = fn(np.array(images[:n]), int(args["index"]), float(args["factor"]))
            else:
                value = fn(np.array(images[:n]))
        except Exception as e:  # noqa: BLE001 - the student's function failing is the student's failed test
            results[name] = {"t": "error", "why": f"your `{name}` raised {type(e).__name__}: {str(e)[:300]} (called "
                                                  f"by the autograder on {n} grading images)"}
            continue
        try:
            results[name] = enc.encode(_plain_result(role, value))
        except Exception as e:  # noqa: BLE001 - what it returned is the student's too
            results[name] = {"t": "error", "why": f"your `{name}` must return numbers (numpy arrays), got "
                                                  f"{type(value).__name__}: {str(e)[:200]}"}
    tmp = os.path.join(out, "manifest.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(results, f)
    os.replace(tmp, os.path.join(out, "manifest.json"))
    print(f"autograder: called {', '.join(PROBE_FUNCTIONS[r] for r in request)} on {len(images)} grading images")


# --- the test kernel's side --------------------------------------------------------------------------------------

class _Decoder:
    def __init__(self, folder: str):
        self.folder, self.nodes = folder, 0

    def _array(self, name):
        import numpy as np
        if not isinstance(name, str) or not _ARRAY_FILE.match(name):
            raise ValueError(f"bad array file name {name!r}")
        return np.load(os.path.join(self.folder, name), allow_pickle=False)

    def _model(self, node):
        import numpy as np
        import torch
        path, name = node.get("class"), node.get("f")
        if path not in SAMPLE_MODELS or not isinstance(name, str) or not _WEIGHTS_FILE.match(name):
            raise ValueError("malformed model")
        file = os.path.join(self.folder, name)
        if os.path.getsize(file) > MAX_WEIGHTS_BYTES:
            raise ValueError(f"weights larger than {MAX_WEIGHTS_BYTES >> 20} MiB")
        with np.load(file, allow_pickle=False) as z:
            state = {k: np.asarray(z[k], dtype=np.float32) for k in z.files}
        kwargs = _sample_model_kwargs(SAMPLE_MODELS[path], {k: v.shape for k, v in state.items()})
        if SAMPLE_MODELS[path] == "vae":
            kwargs["sample_at_eval"] = node.get("sample_at_eval") is not False
        module, _, qualname = path.rpartition(".")
        model = getattr(importlib.import_module(module), qualname)(**kwargs)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
        return model.eval()

    def _resolve(self, module, qualname):
        if not _trusted(module) or not isinstance(qualname, str) or not _DOTTED.match(qualname) \
                or any(p.startswith("_") for p in qualname.split(".")):
            raise ValueError(f"{module}.{qualname} is not a dataclass of {', '.join(DATACLASS_PACKAGES)}")
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj

    def decode(self, node, depth: int = 0):
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES or not isinstance(node, dict):
            raise ValueError("malformed export")
        t, v = node.get("t"), node.get("v")
        if t == "v":
            if v is None or type(v) in (bool, int, float, str):
                return v
            raise ValueError("malformed value")
        if t == "float":
            if v not in ("nan", "inf", "-inf"):
                raise ValueError("malformed float")
            return float(v)
        if t == "complex":
            return complex(float(v[0]), float(v[1]))
        if t == "bytes":
            return base64.b64decode(str(v), validate=True)
        if t == "path":
            return pathlib.Path(str(v))
        if t == "ndarray":
            return self._array(node.get("f"))
        if t == "npscalar":
            return self._array(node.get("f"))[()]
        if t == "tensor":
            import torch
            return torch.from_numpy(self._array(node.get("f")))
        if t == "model":
            return self._model(node)
        if t in ("list", "tuple", "set", "frozenset"):
            if not isinstance(v, list):
                raise ValueError("malformed container")
            items = [self.decode(x, depth + 1) for x in v]
            return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[t](items)
        if t == "dict":
            keys, values = node.get("k"), v
            if not isinstance(keys, list) or not isinstance(values, list) or len(keys) != len(values):
                raise ValueError("malformed dict")
            return {self.decode(k, depth + 1): self.decode(x, depth + 1) for k, x in zip(keys, values)}
        if t == "dataclass":
            cls = self._resolve(node.get("module"), node.get("qualname"))
            fields = node.get("fields")
            if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)) or not isinstance(fields, dict):
                raise ValueError("malformed dataclass")
            allowed = {f.name for f in dataclasses.fields(cls) if f.init}
            if not set(fields) <= allowed:
                raise ValueError(f"unknown field(s) of {cls.__qualname__}")
            return cls(**{k: self.decode(x, depth + 1) for k, x in fields.items()})
        raise ValueError(f"unknown kind {t!r}")


def load(step: int, names, ns: dict | None = None, folder: str = "/hw8/export", workdir: str | None = None,
         code: dict | None = None) -> None:
    """Set each of ``names`` in ``ns`` (default: the caller's globals) from the student's export for ``step``.

    A name the notebook had not set is removed from ``ns``; one that is not plain data becomes an
    :class:`Unavailable`. ``code`` maps names the release's cells import to ``[module, attribute or None]``: where
    the student's value was code, the test kernel imports that instead. ``workdir``: the notebook's folder (the
    student wrote it): made sure not to be on ``sys.path``, nor the working directory's ``''``.
    """
    ns = sys._getframe(1).f_globals if ns is None else ns
    if workdir:
        real = os.path.realpath(workdir)
        sys.path[:] = [p for p in sys.path if p and not os.path.realpath(p).startswith(real)]
        sys.path_importer_cache.clear()
    step_dir = os.path.join(folder, str(int(step)))
    manifest_path = os.path.join(step_dir, "manifest.json")
    try:
        if os.path.getsize(manifest_path) > MAX_MANIFEST_BYTES:
            raise ValueError("export too large")
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
        if not isinstance(manifest, dict):
            raise ValueError("malformed export")
    except (OSError, ValueError, RecursionError):
        manifest = {}
    dec = _Decoder(step_dir)
    unset = []
    for name in names:
        if not (isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)) \
                or name.startswith("__"):
            continue
        if name in GRADER_NAMES:
            _grader_value(name, ns, os.path.join(folder, GRADER_FOLDER))
            continue
        node = manifest.get(name, {"t": "missing"})
        if not isinstance(node, dict) or node.get("t") == "missing":
            ns.pop(name, None)
            unset.append(name)
            continue
        if node.get("t") == "code" and name in (code or {}):
            module, attr = code[name]
            try:
                obj = importlib.import_module(module)
                ns[name] = getattr(obj, attr) if attr else obj
            except Exception as e:  # noqa: BLE001 - the release's own import failing is the release's problem
                ns[name] = Unavailable(name, "module", f"{module} does not import here: {e}")
            continue
        if node.get("t") in ("unavailable", "code"):
            ns[name] = Unavailable(name, str(node.get("type", "?"))[:200], str(node.get("why", ""))[:200])
            continue
        try:
            ns[name] = dec.decode(node)
        except Exception as e:  # noqa: BLE001 - a malformed export is the student's loss, never the grader's crash
            ns[name] = Unavailable(name, "unreadable", f"{type(e).__name__}: {str(e)[:200]}")
    if unset:
        print(f"not defined in your notebook when this test ran (did a cell above fail?): {', '.join(unset)}",
              file=sys.stderr)


def _grader_value(name: str, ns: dict, folder: str) -> None:
    """Set the grader's ``name`` from ``folder`` (the grader filled it after the student's kernel was gone), or
    leave it undefined when this grading has none."""
    ns.pop(name, None)
    if os.path.isfile(os.path.join(folder, PROBES_META)):
        ns[name] = SecretProbes(folder)
    else:
        print(f"no {name} in this grading: the tests that judge your model need the course's autograder",
              file=sys.stderr)
